#include "resources/factory.h"

#include "base/log.h"
#include "resources/collection.h"
#include "resources/script_events.h"

namespace dpd::resources {
namespace {

}  // namespace

Result<std::shared_ptr<Resource>> MakeResource(const config::ResourceConfig& config, const Dependencies& deps) {
  const std::string where = "resources/" + config.name + "/config.json";
  if (config.type == "Collection" || config.type == "UserCollection") {
    auto schema = query::Schema::FromConfig(config.settings);
    if (!schema.ok()) return Status::BadRequest(where + ": " + schema.status().message());
    // Always a ScriptEvents, even without scripts: one may be added while the server runs.
    auto events = std::make_shared<ScriptEvents>(config.name, config.scripts, deps.limits.script, deps.emitter);
    // A syntax error is reported now, with file and line; requests that run that event then fail (spec §6.6).
    for (const auto& problem : events->Warm()) spdlog::error("event script: {}", problem);
    std::shared_ptr<Collection> collection;
    if (config.type == "Collection") {
      collection = std::make_shared<Collection>(config.name, config.type, std::move(*schema), deps.store,
                                                deps.limits, std::move(events));
    } else {
      collection = std::make_shared<UserCollection>(config.name, std::move(*schema), deps.store, deps.limits,
                                                    std::move(events), deps.users);
    }
    if (Status s = deps.store->Prepare(collection->StorageSpec()); !s.ok()) {
      return Status::BadRequest(where + ": " + s.message());
    }
    return std::shared_ptr<Resource>(std::move(collection));
  }
  return Status::BadRequest("Cannot find type \"" + config.type + "\" for resource " + config.name + " (" + where +
                            ")");
}

}  // namespace dpd::resources
