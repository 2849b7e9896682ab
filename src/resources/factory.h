#pragma once
// Builds resource instances from their config.json (spec §1.2). Unknown types are an error naming the file, and
// the caller leaves that resource out (dpd never exits over one bad resource, unlike Deployd).

#include <memory>

#include "base/status.h"
#include "config/app.h"
#include "resources/resource.h"

namespace dpd::resources {

Result<std::shared_ptr<Resource>> MakeResource(const config::ResourceConfig& config);

}  // namespace dpd::resources
