#include "resources/factory.h"

#include "base/log.h"
#include "resources/collection.h"
#include "resources/script_events.h"

namespace dpd::resources {
namespace {

// UserCollection is a known type whose API (login, sessions, password hashing) arrives with the users issue (#5).
// Until then it owns its URL space and answers 501 with Deployd's error shape.
class PendingUserCollection : public Resource {
 public:
  using Resource::Resource;
  boost::asio::awaitable<Reply> Handle(Context&) override {
    co_return Reply::Error(501, type() + " resources are not available in this build yet", true);
  }
};

}  // namespace

Result<std::shared_ptr<Resource>> MakeResource(const config::ResourceConfig& config, const Dependencies& deps) {
  const std::string where = "resources/" + config.name + "/config.json";
  if (config.type == "Collection") {
    auto schema = query::Schema::FromConfig(config.settings);
    if (!schema.ok()) return Status::BadRequest(where + ": " + schema.status().message());
    // Always a ScriptEvents, even without scripts: one may be added while the server runs.
    auto events = std::make_shared<ScriptEvents>(config.name, config.scripts, deps.limits.script, deps.emitter);
    // A syntax error is reported now, with file and line; requests that run that event then fail (spec §6.6).
    for (const auto& problem : events->Warm()) spdlog::error("event script: {}", problem);
    auto collection = std::make_shared<Collection>(config.name, config.type, std::move(*schema), deps.store,
                                                   deps.limits, std::move(events));
    if (Status s = deps.store->Prepare(collection->StorageSpec()); !s.ok()) {
      return Status::BadRequest(where + ": " + s.message());
    }
    return std::shared_ptr<Resource>(std::move(collection));
  }
  if (config.type == "UserCollection") {
    return std::shared_ptr<Resource>(std::make_shared<PendingUserCollection>(config.name, config.type));
  }
  return Status::BadRequest("Cannot find type \"" + config.type + "\" for resource " + config.name + " (" + where +
                            ")");
}

}  // namespace dpd::resources
