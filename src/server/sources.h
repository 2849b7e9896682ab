#pragma once
// The figures other modules keep, registered as metrics sources (metrics/metrics.h): the store (pool, calls), the
// compiled-script caches, the session cache, realtime sockets and send queues, HTTP connections. Read at
// collection time, never on the request path. Also the store's figures as /__ready shows them.

#include <functional>
#include <string>

#include "json/json.h"
#include "metrics/metrics.h"
#include "store/store.h"

namespace dpd::http {
class Server;
}
namespace dpd::realtime {
class Hub;
}
namespace dpd::session {
class SessionStore;
}

namespace dpd::server {

// {"pool_max", "pool_in_use", "calls", "unavailable"} — only the figures the store has.
json::object StoreStatsJson(const store::StoreStats& stats);

struct SourceParts {
  const store::Store* store = nullptr;
  const session::SessionStore* sessions = nullptr;
  const realtime::Hub* hub = nullptr;
  std::function<const http::Server*()> http;  // null until the server listens
  std::string version;                        // dpd_build_info{version}
};
void AddSources(metrics::Registry& registry, SourceParts parts);

}  // namespace dpd::server
