#pragma once
// The figures other modules keep, registered as metrics sources (metrics/metrics.h): the store (pool, calls), the
// compiled-script caches, the session cache, realtime sockets and send queues, HTTP connections. Read at
// collection time, never on the request path. Also the store's figures as /__ready shows them.

#include <functional>
#include <string>

#include "json/json.h"
#include "metrics/metrics.h"
#include "script/node_host.h"
#include "store/store.h"

namespace dpd::http {
class Server;
}
namespace dpd::realtime {
class Hub;
class RedisBus;
}
namespace dpd::session {
class SessionStore;
}

namespace dpd::server {

// {"pool_max", "pool_in_use", "calls", "unavailable"} — only the figures the store has.
json::object StoreStatsJson(const store::StoreStats& stats);

class TimedStore;

struct SourceParts {
  const store::Store* store = nullptr;
  const TimedStore* timed = nullptr;  // operation durations (null: none)
  const session::SessionStore* sessions = nullptr;
  const realtime::Hub* hub = nullptr;
  std::function<const http::Server*()> http;  // null until the server listens
  std::string version;                        // dpd_build_info{version}
  const realtime::RedisBus* redis = nullptr;  // the bus of several nodes (null: one node)
  const script::NodeHost* modules = nullptr;  // the resource-module host (null: the app has no modules)
};
void AddSources(metrics::Registry& registry, SourceParts parts);

// The same gauges and counters as one JSON object for the Performance page: {"memory": {"rss": …, "fds": …},
// "sessions": {…}, "sockets": {…}, "script": {…}, "store": {…}, "http": {"connections": …}}.
json::object FiguresJson(const SourceParts& parts);

// The resident memory of this process in bytes (/proc/self/statm).
double ResidentBytes();

}  // namespace dpd::server
