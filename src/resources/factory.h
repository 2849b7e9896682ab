#pragma once
// Builds resource instances from their config.json (spec §1.2). Unknown types and unusable configs are an error
// naming the file, and the caller leaves that resource out (dpd never exits over one bad resource, unlike Deployd).

#include <memory>

#include "base/limits.h"
#include "base/status.h"
#include "config/app.h"
#include "resources/emitter.h"
#include "resources/resource.h"
#include "resources/user_collection.h"
#include "store/store.h"

namespace dpd::resources {

struct Dependencies {
  store::Store* store = nullptr;
  Limits limits;
  Emitter* emitter = nullptr;  // where scripts' emit() goes (outlives the resources)
  UserOptions users;           // sessions, hashing pool, login limiter for user collections
};

// Creates the resource and prepares its storage (tables, indexes).
Result<std::shared_ptr<Resource>> MakeResource(const config::ResourceConfig& config, const Dependencies& deps);

}  // namespace dpd::resources
