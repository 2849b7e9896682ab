#include "resources/registry.h"

#include <cctype>
#include <set>

#include "base/log.h"
#include "resources/collection.h"
#include "resources/script_events.h"

namespace dpd::resources {
namespace {

constexpr const char* kCollectionEvents[] = {"beforerequest.js", "validate.js", "post.js",       "put.js",
                                             "get.js",           "delete.js",   "aftercommit.js"};

std::string Where(const config::ResourceConfig& config) { return "resources/" + config.name + "/config.json"; }

// Both collection types: schema, event scripts (compiled on each worker by Resource::Warm, which reports a syntax
// error with file and line; requests that run that event then fail, spec §6.6), storage prepared.
Result<std::shared_ptr<Resource>> MakeCollection(const config::ResourceConfig& config, const Dependencies& deps,
                                                 bool users) {
  auto schema = query::Schema::FromConfig(config.settings);
  if (!schema.ok()) return Status::BadRequest(Where(config) + ": " + schema.status().message());
  // A collection whose rules do not parse does not serve at all (never more open than its rules say).
  auto rules = AccessRules::FromConfig(config.settings, *schema, deps.limits.query);
  if (!rules.ok()) return Status::BadRequest(Where(config) + ": " + rules.status().message());
  auto events = std::make_shared<ScriptEvents>(config.name, config.scripts, deps.limits.script, deps.emitter);
  std::shared_ptr<Collection> collection;
  if (users) {
    collection = std::make_shared<UserCollection>(config.name, std::move(*schema), deps.store, deps.limits,
                                                  std::move(events), deps.users);
  } else {
    collection = std::make_shared<Collection>(config.name, config.type, std::move(*schema), deps.store, deps.limits,
                                              std::move(events));
  }
  collection->set_rules(std::move(*rules));
  if (users) {  // where its password-reset tokens go
    if (Status s = deps.store->Prepare({std::string(kResetTokens), {}}); !s.ok()) {
      return Status::BadRequest(Where(config) + ": " + s.message());
    }
  }
  if (Status s = deps.store->Prepare(collection->StorageSpec()); !s.ok()) {
    return Status::BadRequest(Where(config) + ": " + s.message());
  }
  return std::shared_ptr<Resource>(std::move(collection));
}

}  // namespace

TypeRegistry TypeRegistry::WithBuiltins() {
  TypeRegistry registry;
  TypeTraits collection;
  collection.collection = collection.client = true;
  collection.default_path = "/my-objects";
  collection.dashboard_pages = {"Properties", "Data", "Events", "Rules", "API"};
  collection.events.assign(std::begin(kCollectionEvents), std::end(kCollectionEvents));
  TypeTraits users = collection;
  users.users = true;
  users.label = "Users Collection";
  users.default_path = "/users";
  users.events.push_back("login.js");
  users.events.push_back("forgot.js");
  // What a written config must be (stricter than what loads: an existing app's odd property types still load).
  Validator schema = [](const config::ResourceConfig& c) -> Status {
    auto s = query::Schema::FromConfig(c.settings);
    if (!s.ok()) return Status::BadRequest(Where(c) + ": " + s.status().message());
    if (auto rules = AccessRules::FromConfig(c.settings, *s, QueryLimits{}); !rules.ok()) {
      return Status::BadRequest(Where(c) + ": " + rules.status().message());
    }
    const json::value* props = c.settings.if_contains("properties");
    if (props == nullptr || !props->is_object()) return Status::Ok();
    static const std::set<std::string, std::less<>> kTypes = {"string", "number", "boolean", "date", "object", "array"};
    for (const auto& kv : props->as_object()) {
      const json::object* p = kv.value().if_object();
      if (p == nullptr)
        return Status::BadRequest(Where(c) + ": property \"" + std::string(kv.key()) + "\" is not an object");
      const json::value* t = p->if_contains("type");
      if (t != nullptr && (!t->is_string() || !kTypes.count(t->as_string()))) {
        return Status::BadRequest(Where(c) + ": property \"" + std::string(kv.key()) +
                                  "\" has an unknown type (string, number, boolean, date, object or array)");
      }
    }
    return Status::Ok();
  };
  (void)registry.Register(
      {"Collection", collection,
       [](const config::ResourceConfig& c, const Dependencies& d) { return MakeCollection(c, d, false); }, schema});
  (void)registry.Register(
      {"UserCollection", users,
       [](const config::ResourceConfig& c, const Dependencies& d) { return MakeCollection(c, d, true); }, schema});
  return registry;
}

Status TypeRegistry::Register(ResourceType type) {
  if (types_.count(type.name)) return Status::BadRequest("resource type \"" + type.name + "\" is already registered");
  std::string name = type.name;
  types_.emplace(std::move(name), std::move(type));
  return Status::Ok();
}

const ResourceType* TypeRegistry::Find(std::string_view name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<const ResourceType*> TypeRegistry::types() const {
  std::vector<const ResourceType*> out;
  for (const auto& [name, type] : types_) out.push_back(&type);
  return out;
}

Result<std::shared_ptr<Resource>> TypeRegistry::Make(const config::ResourceConfig& config,
                                                     const Dependencies& deps) const {
  const ResourceType* type = Find(config.type);
  if (type == nullptr) {
    return Status::BadRequest("Cannot find type \"" + config.type + "\" for resource " + config.name + " (" +
                              Where(config) + ")");
  }
  auto made = type->make(config, deps);
  if (!made.ok()) return made.status();
  (*made)->set_traits(type->traits);
  return made;
}

UserCollection* AsUserCollection(Resource* r) {
  // Only the UserCollection factory registers traits with `users`.
  return r != nullptr && r->traits().users ? static_cast<UserCollection*>(r) : nullptr;
}

}  // namespace dpd::resources
