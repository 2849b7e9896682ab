#pragma once
// The request pipeline (spec §3): reserved routes → CORS/OPTIONS → root key and session → query → POST-only method
// override → body → routing → reply rendering (spec §3.8, §3.9). Each request pins the app snapshot it starts
// with.
//
// Reserved routes are one table, consulted before the app's resources: exact paths (/__health, /__ready, /dpd.js,
// and the coming /__resources, /__metrics, /dashboard) and prefixes (/socket.io/). A route names the methods it
// answers; other methods go on to the app. Anything else below /__ is 404.
//
// Thread-safety: routes are added before serving; Handle runs concurrently on every HTTP worker.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/root_keys.h"
#include "base/limits.h"
#include "http/cors.h"
#include "http/message.h"
#include "metrics/metrics.h"
#include "realtime/bus.h"
#include "resources/resource.h"
#include "server/app_snapshot.h"
#include "server/monitor.h"
#include "session/session_store.h"

namespace dpd::server {

// {"message": …} (spec §3.9) with "status" last; an HTML page when the client accepts html.
http::Response ErrorResponse(const http::Request& req, int status, std::string_view message);
http::Response JsonResponse(int status, std::string body);
// Cache-Control/Pragma/Expires: no caching (spec §3.8).
void AddNoCache(http::Response& res);

class Pipeline {
 public:
  using Handler = std::function<boost::asio::awaitable<http::Response>(http::Request&, const AppSnapshot&)>;
  struct Route {
    std::string path;  // "/__health", or a prefix such as "/socket.io/"
    bool prefix = false;
    std::vector<std::string> methods;  // empty: every method
    Handler handle;
    // Instead of `handle`: a resource served below `path` with the whole pipeline (root key, session, query, body,
    // rendering), its ctx.url the path below the route ("/" at the route itself).
    std::shared_ptr<resources::Resource> resource;
  };

  struct Parts {
    const SnapshotCell* app = nullptr;
    session::SessionStore* sessions = nullptr;
    realtime::Bus* bus = nullptr;  // the fence between a request's emits and its response (spec §6.7)
    auth::RootKeys* root_keys = nullptr;
    metrics::Registry* metrics = nullptr;
    metrics::RouteTable* routes = nullptr;         // per resource and method: responses and latency
    metrics::ErrorTable* errors = nullptr;         // failed responses by kind
    std::function<Monitor*()> monitor;             // the slowest recent requests (null until the server runs)
    std::chrono::milliseconds slow_request{1000};  // log.slow_request_ms
    bool access_log = true;                        // the resource and stage times go on the access-log line
    const http::CorsOptions* cors = nullptr;
    JsonLimits json;
  };
  explicit Pipeline(Parts parts);

  // Adds a reserved route; a later route of the same path replaces the earlier one.
  void Reserve(Route route);
  // The reserved route for `path` and `method`, or null.
  const Route* FindReserved(std::string_view path, std::string_view method) const;

  boost::asio::awaitable<http::Response> Handle(http::Request& req);
  // The request presents a root key (spec §9).
  bool IsRoot(const http::Request& req) const;

 private:
  // `route` is set to what answered, for the metrics: a resource's name, a reserved route's, "(static)", "(none)".
  boost::asio::awaitable<http::Response> Run(http::Request& req, const std::shared_ptr<const AppSnapshot>& app,
                                             std::string& route, const std::shared_ptr<resources::Trace>& trace);
  // The metrics, the slow-request log and the access-log fields of one answered request.
  void Record(const http::Request& req, const std::string& route, const resources::Trace& trace,
              std::chrono::steady_clock::duration took, http::Response& res) const;
  // Root key, session, query and body into `ctx`; an error response when the request is malformed.
  boost::asio::awaitable<std::optional<http::Response>> Prepare(http::Request& req, const AppSnapshot& app,
                                                                resources::Context& ctx);
  // The answer of a resource as the client gets it.
  boost::asio::awaitable<http::Response> Answer(http::Request& req, resources::Context& ctx, resources::Reply reply);
  boost::asio::awaitable<void> ResolveSession(const http::Request& req, const AppSnapshot& app,
                                              resources::Context& ctx);

  Parts parts_;
  std::map<std::string, Route, std::less<>> exact_;
  std::vector<Route> prefixes_;
};

}  // namespace dpd::server
