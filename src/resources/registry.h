#pragma once
// The resource-type registry (spec §1.2, §4.3 `types`): every type a config.json may name registers here with a
// factory and its traits. Nothing outside this file tests a type's name or casts a Resource to find out what it
// is: callers ask the traits (and the typed accessors below). Built-in: Collection, UserCollection. Custom types
// (resource modules, the coming event resource) register the same way.
//
// Unknown types and unusable configs are an error naming the file; the caller leaves that resource out (dpd never
// exits over one bad resource, unlike Deployd).
//
// Thread-safety: register before serving; afterwards every method is a read and safe from any thread.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "config/app.h"
#include "resources/emitter.h"
#include "resources/resource.h"
#include "resources/user_collection.h"
#include "store/store.h"

namespace dpd::resources {

// What a resource needs from the server to be built.
struct Dependencies {
  store::Store* store = nullptr;
  Limits limits;
  Emitter* emitter = nullptr;  // where scripts' emit() goes (outlives the resources)
  UserOptions users;           // sessions, hashing pool, login limiter for user collections
};

using Factory = std::function<Result<std::shared_ptr<Resource>>(const config::ResourceConfig&, const Dependencies&)>;

// Whether a config of the type would load (its properties, its settings): checked before anything is written.
using Validator = std::function<Status(const config::ResourceConfig&)>;

// A type that mounts an instance of its own, without a config.json (a resource module's static selfHost(), spec
// §1.5 item 4): the resource, or null when it declines.
using SelfHost = std::function<Result<std::shared_ptr<Resource>>(const Dependencies&)>;

struct ResourceType {
  std::string name;  // as config.json's "type" names it
  TypeTraits traits;
  Factory make;
  Validator validate;  // empty: every config of the type loads
  SelfHost self_host;  // empty: the type has no instance of its own
};

class TypeRegistry {
 public:
  // Collection and UserCollection.
  static TypeRegistry WithBuiltins();

  // Adds a type; a second type of the same name is refused.
  Status Register(ResourceType type);
  const ResourceType* Find(std::string_view name) const;
  // Every registered type, by name (for /__resources/types and the dashboard).
  std::vector<const ResourceType*> types() const;

  // Creates the resource and prepares its storage (tables, indexes); the resource knows its traits afterwards.
  Result<std::shared_ptr<Resource>> Make(const config::ResourceConfig& config, const Dependencies& deps) const;

 private:
  std::map<std::string, ResourceType, std::less<>> types_;
};

// The resource as a user collection (traits().users), or null.
UserCollection* AsUserCollection(Resource* r);

}  // namespace dpd::resources
