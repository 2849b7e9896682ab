#include "server/app_server.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "auth/rate_limiter.h"
#include "auth/root_keys.h"
#include "base/log.h"
#include "config/app.h"
#include "config/keys.h"
#include "http/query_string.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "realtime/bus.h"
#include "realtime/hub.h"
#include "realtime/redis_bus.h"
#include "resources/config_resource.h"
#include "resources/dashboard.h"
#include "resources/realtime_emitter.h"
#include "resources/module_resource.h"
#include "resources/registry.h"
#include "server/app_snapshot.h"
#include "server/dashboard_assets.h"
#include "server/module_store.h"
#include "server/pipeline.h"
#include "server/sources.h"
#include "server/timed_store.h"
#include "server/transfer.h"
#include "session/session_store.h"
#include "store/run_sync.h"

namespace dpd::server {
namespace {

constexpr std::string_view kSocketIoPrefix = "/socket.io/";

// A /socket.io/ request as the realtime hub takes it.
// `root`: the request presents a root key; with ?dpdPerf=1 the socket is a watcher of the Performance page.
realtime::HttpExchange Exchange(const http::Request& req, bool root) {
  realtime::HttpExchange ex;
  ex.method = req.method;
  ex.target = req.target;
  ex.headers = req.headers;
  ex.body = req.body;
  ex.remote_ip = req.remote_ip;
  if (const std::string* ct = req.header("content-type")) ex.content_type = *ct;
  if (const std::string* cookie = req.header("cookie")) {
    if (auto v = http::CookieValue(*cookie, "sid")) ex.cookie_sid = std::string(*v);
  }
  std::string_view q = req.query();
  while (!q.empty()) {
    std::string_view pair = q.substr(0, q.find('&'));
    q.remove_prefix(std::min(q.size(), pair.size() + 1));
    std::size_t eq = pair.find('=');
    auto key = http::PercentDecode(pair.substr(0, eq));
    auto value = http::PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (key && value) ex.query.emplace(std::move(*key), std::move(*value));
  }
  ex.watcher = root && ex.query.count("dpdPerf") && ex.query["dpdPerf"] == "1";
  return ex;
}

}  // namespace

Status ValidateStoreUrl(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) return Status::Ok();
  if (url.rfind("mongodb://", 0) == 0 || url.rfind("mongodb+srv://", 0) == 0) return Status::Ok();
  return Status::BadRequest("--db must be sqlite:<path> or a mongodb:// URI, got \"" + url + "\"");
}

struct AppServer::Impl {
  // Declared first so it is destroyed last: resources and in-flight requests use it.
  std::unique_ptr<store::Store> store;
  // The Node.js host of the app's resource modules (null: the app has none); stopped first in ~Impl.
  std::shared_ptr<script::NodeHost> modules;
  std::unique_ptr<resources::Emitter> emitter;
  std::unique_ptr<session::SessionStore> sessions;
  std::unique_ptr<realtime::Hub> hub;   // socket.io (spec §12): this node's sockets
  std::unique_ptr<realtime::Bus> bus;   // where emits and session changes go
  realtime::RedisBus* redis = nullptr;  // `bus` when several nodes share a Redis (--bus), else null
  std::unique_ptr<auth::RateLimiter> login_limiter;
  std::unique_ptr<auth::RateLimiter> signup_limiter;
  std::unique_ptr<auth::RateLimiter> reset_limiter;
  std::unique_ptr<boost::asio::thread_pool> hash_pool;  // argon2id, off the event loops
  // Session upkeep (expiry, lastActive) on its own small loop.
  boost::asio::io_context upkeep_io;
  std::thread upkeep;
  Options options;
  resources::TypeRegistry types = resources::TypeRegistry::WithBuiltins();
  resources::Dependencies deps;  // what every resource is built with
  SnapshotCell app;              // the current configuration; requests pin theirs
  std::mutex reload_mu;          // one reload at a time
  metrics::Registry metrics;
  metrics::RouteTable routes;   // per resource and method
  metrics::ErrorTable errors;   // failed responses by kind
  TimedStore* timed = nullptr;  // the store as everything uses it (owned by `store`)
  SourceParts source_parts;
  std::unique_ptr<Monitor> monitor;  // the Performance page, alerts, event-loop lag (from Start)
  std::unique_ptr<auth::RootKeys> root_keys;
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<http::Server> http;

  // The app folder is polled once a second (a stat per config and script file); a change builds a new snapshot.
  std::thread watcher;
  std::mutex watcher_mu;
  std::condition_variable watcher_cv;
  bool watcher_stop = false;  // guarded by watcher_mu

  ~Impl() {
    if (modules) modules->Stop();  // its threads use the store and post to upkeep_io
    if (redis) redis->Stop();      // its threads post to upkeep_io, destroyed before it
    if (monitor) monitor->Stop();  // its thread posts to the HTTP workers, destroyed before it
    StopWatcher();
    StopUpkeep();
  }

  // Compiles every resource's event scripts into each worker's isolate and reports problems once. `wait`: until
  // every worker has (start-up); otherwise queued behind whatever each worker is running (a reload never waits for
  // a busy worker; a request there before the warm-up compiles on first use).
  void Warm(std::shared_ptr<const AppSnapshot> snap, bool wait) {
    if (!http) return;
    auto reported = std::make_shared<std::atomic<bool>>(false);
    auto warm = [snap, reported] {
      std::vector<std::string> problems;
      for (const auto& r : snap->router->resources()) {
        for (auto& p : r->Warm()) problems.push_back(std::move(p));
      }
      if (!reported->exchange(true)) {
        for (const auto& p : problems) spdlog::error("event script: {}", p);
      }
    };
    if (wait) {
      http->RunOnEachWorker(warm);
    } else {
      http->PostToEachWorker(std::move(warm));
    }
  }

  // Loads the app folder again and swaps in the new snapshot; requests already running keep theirs.
  // `announce`: tell the other nodes (a change seen or made here); a reload another node asked for is not announced
  // again.
  Status Reload(bool announce = true) {
    std::lock_guard lock(reload_mu);
    SetStamp(config::AppStamp(options.app_dir));  // what this reload sees: the watcher need not reload it again
    auto loaded = config::LoadApp(options.app_dir, options.environment, options.limits.script.source_bytes);
    if (!loaded.ok()) {
      spdlog::error("reload skipped: {}", loaded.status().message());
      return loaded.status();
    }
    auto current = app.Load();
    auto next = BuildSnapshot(std::move(*loaded), types, deps, current ? current->generation + 1 : 1);
    app.Store(next);
    Warm(next, false);
    spdlog::info("app reloaded generation={} resources={}{}", next->generation, next->router->resources().size(),
                 announce ? "" : " (asked by another node)");
    if (announce && redis) redis->PublishReload();
    return Status::Ok();
  }

  std::mutex stamp_mu;
  std::string stamp;  // guarded by stamp_mu: the app folder as the current snapshot was loaded from it
  void SetStamp(std::string s) {
    std::lock_guard lock(stamp_mu);
    stamp = std::move(s);
  }
  bool Changed(const std::string& now) {
    std::lock_guard lock(stamp_mu);
    return now != stamp;
  }

  void StartWatcher() {
    SetStamp(config::AppStamp(options.app_dir));
    watcher = std::thread([this] {
      std::unique_lock lock(watcher_mu);
      while (!watcher_cv.wait_for(lock, std::chrono::seconds(1), [this] { return watcher_stop; })) {
        if (!Changed(config::AppStamp(options.app_dir))) continue;
        lock.unlock();
        (void)Reload();
        lock.lock();
      }
    });
  }

  void StopWatcher() {
    {
      std::lock_guard lock(watcher_mu);
      watcher_stop = true;
    }
    watcher_cv.notify_all();
    if (watcher.joinable()) watcher.join();
  }

  // Every 5 s: expired sessions out of the cache and the store, pending lastActive values written.
  static boost::asio::awaitable<void> UpkeepLoop(session::SessionStore* sessions) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (;;) {
      co_await sessions->Maintain();
      timer.expires_after(std::chrono::seconds(5));
      boost::system::error_code ec;
      co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (ec) co_return;
    }
  }
  // A throw in a pass is logged and the loop starts again (sessions must keep expiring).
  void SpawnUpkeep() {
    boost::asio::co_spawn(upkeep_io, UpkeepLoop(sessions.get()), [this](const std::exception_ptr& e) {
      if (LogFailure("session upkeep", e) && !upkeep_io.stopped()) SpawnUpkeep();
    });
  }
  void StartUpkeep() {
    SpawnUpkeep();
    upkeep = std::thread([this] { upkeep_io.run(); });
  }
  void StopUpkeep() {
    upkeep_io.stop();
    if (upkeep.joinable()) upkeep.join();
  }

  // The app's resource modules (spec §1.5) on the embedded Node.js host, their types registered; nothing to do for
  // an app without node_modules/.
  void StartModules() {
    script::NodeHost::Options mo;
    mo.app_dir = options.app_dir;
    mo.environment = options.environment;
    mo.limits = options.limits.modules;
    mo.store = MakeModuleStore(store.get(), upkeep_io.get_executor(), options.limits);
    modules = script::NodeHost::Start(std::move(mo));
    if (!modules) return;
    for (const auto& p : modules->problems()) spdlog::error("resource module skipped: {}", p);
    if (Status s = resources::RegisterModuleTypes(types, modules); !s.ok()) spdlog::error("{}", s.message());
    for (const auto& t : modules->types()) spdlog::info("resource type {} from {}", t.name, t.module);
  }

  // The reserved routes of this server (pipeline.h): the client, socket.io, liveness and readiness, the config API,
  // the dashboard.
  void ReserveRoutes() {
    const std::vector<std::string> get_head = {"GET", "HEAD"};
    resources::ConfigResource::Parts cp;
    cp.root = app.Load()->app.root;
    cp.environment = options.environment;
    cp.types = &types;
    cp.store = store.get();
    cp.reload = [this] { return Reload(); };
    cp.script = options.limits.script;
    cp.reserved = [this](std::string_view path) {
      const std::string p(path);
      return pipeline->FindReserved(p, "GET") != nullptr || pipeline->FindReserved(p + "/", "GET") != nullptr ||
             p == "/dashboard" || p.rfind("/dashboard/", 0) == 0;
    };
    auto config_api = std::make_shared<resources::ConfigResource>(std::move(cp));
    // The dashboard (spec §4.5): /dashboard → /dashboard/, the page and its assets below it.
    pipeline->Reserve({"/dashboard", false, get_head,
                       [](http::Request&, const AppSnapshot&) -> boost::asio::awaitable<http::Response> {
                         http::Response res;
                         res.status = 301;
                         res.Set("Location", "/dashboard/");
                         co_return res;
                       }});
    using Asset = resources::DashboardResource::Asset;
    pipeline->Reserve({"/dashboard/",
                       true,
                       {},
                       {},
                       std::make_shared<resources::DashboardResource>(
                           kDashboardHtml, std::map<std::string, Asset, std::less<>>{
                                               {"dashboard.js", {"text/javascript", kDashboardJs}},
                                               {"dashboard.css", {"text/css", kDashboardCss}},
                                               {"codemirror.js", {"text/javascript", kCodeMirrorJs}},
                                               {"codemirror.css", {"text/css", kCodeMirrorCss}},
                                               {"javascript.js", {"text/javascript", kCodeMirrorJavascriptMode}},
                                               {"matchbrackets.js", {"text/javascript", kCodeMirrorMatchBrackets}},
                                           })});
    pipeline->Reserve({"/__resources", false, {}, {}, config_api});
    pipeline->Reserve({"/__resources/", true, {}, {}, config_api});
    pipeline->Reserve({"/dpd.js", false, get_head,
                       [](http::Request& req, const AppSnapshot& snap) -> boost::asio::awaitable<http::Response> {
                         http::Response res;
                         res.body = snap.dpd_js;
                         res.head = req.method == "HEAD";
                         res.Set("Content-Type", "text/javascript");
                         co_return res;
                       }});
    pipeline->Reserve({std::string(kSocketIoPrefix),
                       true,
                       {},
                       [this](http::Request& req, const AppSnapshot&) -> boost::asio::awaitable<http::Response> {
                         realtime::HttpAnswer answer = co_await hub->Poll(Exchange(req, pipeline->IsRoot(req)));
                         http::Response res;
                         res.status = answer.status;
                         res.body = std::move(answer.body);
                         res.Set("Content-Type", answer.content_type);
                         AddNoCache(res);
                         co_return res;
                       }});
    // Ready = the store answers (MongoDB: a ping). For load balancers; /__health says the process lives.
    pipeline->Reserve({"/__ready", false, get_head,
                       [this](http::Request& req, const AppSnapshot&) -> boost::asio::awaitable<http::Response> {
                         Status ready = co_await store->Ready();
                         json::object body{{"ready", ready.ok()}, {"store", StoreStatsJson(store->Stats())}};
                         if (!ready.ok()) body["message"] = ready.message();
                         // Still ready with the bus down: this node serves, with its session cache bypassed.
                         if (redis) body["bus"] = redis->up() ? "up" : "down";
                         http::Response res = JsonResponse(ready.ok() ? 200 : 503, json::Write(body));
                         AddNoCache(res);
                         res.head = req.method == "HEAD";
                         co_return res;
                       }});
    // Prometheus text (0.0.4): open in development or with --metrics-public, otherwise a root call.
    pipeline->Reserve({"/__metrics", false, get_head,
                       [this](http::Request& req, const AppSnapshot&) -> boost::asio::awaitable<http::Response> {
                         if (options.environment != "development" && !options.metrics_public &&
                             !pipeline->IsRoot(req)) {
                           co_return ErrorResponse(req, 401, "Not Allowed");
                         }
                         std::vector<metrics::Family> families = metrics.Collect();
                         routes.Collect(families);
                         errors.Collect(families);
                         if (monitor) monitor->Collect(families);
                         http::Response res;
                         res.body = metrics::RenderPrometheus(families);
                         res.Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
                         AddNoCache(res);
                         res.head = req.method == "HEAD";
                         co_return res;
                       }});
    pipeline->Reserve({"/__health", false, get_head,
                       [this](http::Request& req, const AppSnapshot&) -> boost::asio::awaitable<http::Response> {
                         http::Response res = JsonResponse(200, metrics.HealthJson());
                         AddNoCache(res);
                         res.head = req.method == "HEAD";
                         co_return res;
                       }});
  }
};

AppServer::AppServer() : impl_(std::make_unique<Impl>()) {}
AppServer::~AppServer() = default;

Result<std::unique_ptr<AppServer>> AppServer::Create(Options options) {
  if (!options.db.empty()) {
    if (Status s = ValidateStoreUrl(options.db); !s.ok()) return s;
  }
  auto app = config::LoadApp(options.app_dir, options.environment, options.limits.script.source_bytes);
  if (!app.ok()) return app.status();
  std::unique_ptr<AppServer> server(new AppServer());
  Impl& im = *server->impl_;
  im.options = std::move(options);
  auto opened = OpenStore(im.options.db, app->root, im.options.limits.query.time_budget, im.options.bus.empty());
  if (!opened.ok()) return opened.status();
#ifdef DPD_NO_METRICS
  im.store = std::move(*opened);
#else
  const std::string store_label = im.options.db.rfind("mongodb", 0) == 0 ? "mongodb" : "sqlite";
  auto timed = std::make_unique<TimedStore>(std::move(*opened), store_label);
  im.timed = timed.get();
  im.store = std::move(timed);
#endif
  const std::string& host = im.options.host;
  const bool any_key_is_root =
      im.options.environment == "development" &&
      (host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0);
  im.root_keys = std::make_unique<auth::RootKeys>(app->root / ".dpd" / "keys.json", &config::ReadKeys, any_key_is_root);
  session::SessionOptions so;
  so.max_age = im.options.limits.session.max_age;
  so.cache_entries = im.options.limits.session.cache_entries;
  im.sessions = std::make_unique<session::SessionStore>(im.store.get(), so);
  if (Status s = im.sessions->Prepare(); !s.ok()) return s;
  im.hub = std::make_unique<realtime::Hub>(im.options.limits.realtime, im.options.limits.json, im.sessions.get());
  if (im.options.bus.empty()) {
    im.bus = std::make_unique<realtime::LocalBus>(im.hub.get());
  } else {
    auto url = realtime::ParseRedisUrl(im.options.bus);
    if (!url.ok()) return url.status();
    auto redis = std::make_unique<realtime::RedisBus>(std::move(*url), im.options.limits.realtime.bus_queue_bytes,
                                                      im.hub.get(), im.sessions.get());
    // Another node's configuration changed (the folder is shared): load it here too, off the bus thread.
    // On a shared folder this node's watcher may have loaded the change already: the folder's stamp says so.
    redis->SetReloadHandler([&im] {
      boost::asio::post(im.upkeep_io, [&im] {
        if (im.Changed(config::AppStamp(im.options.app_dir))) (void)im.Reload(false);
      });
    });
    im.redis = redis.get();
    im.bus = std::move(redis);
  }
  im.sessions->SetListener(
      [bus = im.bus.get()](const std::string& sid, const session::SessionPtr& s) { bus->SessionChanged(sid, s); });
  im.emitter = std::make_unique<resources::RealtimeEmitter>(im.bus.get());
  im.login_limiter = std::make_unique<auth::RateLimiter>(im.options.limits.session.login_attempts,
                                                         im.options.limits.session.login_window);
  im.signup_limiter =
      std::make_unique<auth::RateLimiter>(im.options.limits.session.signups, im.options.limits.session.signup_window);
  im.reset_limiter = std::make_unique<auth::RateLimiter>(im.options.limits.session.reset_attempts,
                                                         im.options.limits.session.reset_window);
  im.hash_pool = std::make_unique<boost::asio::thread_pool>(2);
  resources::Dependencies& deps = im.deps;
  deps.store = im.store.get();
  deps.limits = im.options.limits;
  deps.emitter = im.emitter.get();
  deps.users.sessions = im.sessions.get();
  deps.users.hash_pool = im.hash_pool.get();
  deps.users.login_limiter = im.login_limiter.get();
  deps.users.shared_attempts = im.redis;  // across nodes when there are several
  deps.users.login_attempts = im.options.limits.session.login_attempts;
  deps.users.signup_limiter = im.signup_limiter.get();
  deps.users.login_window_ms = im.options.limits.session.login_window.count();
  deps.users.signup_window_ms = im.options.limits.session.signup_window.count();
  deps.users.max_password_bytes = im.options.limits.session.password_bytes;
  deps.users.reset_limiter = im.reset_limiter.get();
  deps.users.reset_window_ms = im.options.limits.session.reset_window.count();
  deps.users.reset_token_time = im.options.limits.session.reset_token_time;
  deps.users.reset_answer_time = im.options.limits.session.reset_answer_time;
  const SessionLimits& sl = im.options.limits.session;
  deps.users.hash_cost.memory_bytes = sl.hash_memory_kib * 1024;
  deps.users.hash_cost.ops = sl.hash_passes;
  if (sl.hash_memory_kib < 19 * 1024 || sl.hash_passes < 2) {
    spdlog::warn(
        "password hashing is weaker than OWASP's minimum (19 MiB, 2 passes): session.hash_memory_kib={} "
        "session.hash_passes={} — for benchmarks and tests only",
        sl.hash_memory_kib, sl.hash_passes);
  }
  im.StartModules();
  im.app.Store(BuildSnapshot(std::move(*app), im.types, deps, 1));
  Pipeline::Parts parts;
  parts.app = &im.app;
  parts.sessions = im.sessions.get();
  parts.bus = im.bus.get();
  parts.root_keys = im.root_keys.get();
  parts.metrics = &im.metrics;
  parts.routes = &im.routes;
  parts.errors = &im.errors;
  parts.monitor = [&im]() { return im.monitor.get(); };
  parts.slow_request = im.options.limits.log.slow_request;
  parts.access_log = im.options.access_log;
  parts.cors = &im.options.cors;
  parts.json = im.options.limits.json;
  im.pipeline = std::make_unique<Pipeline>(std::move(parts));
  im.ReserveRoutes();
  im.source_parts = {im.store.get(),     im.timed, im.sessions.get(), im.hub.get(), [&im] { return im.http.get(); },
                     im.options.version, im.redis,    im.modules.get()};
  AddSources(im.metrics, im.source_parts);
  return server;
}

Status AppServer::Start() {
  Impl& im = *impl_;
  http::ServerOptions ho;
  ho.host = im.options.host;
  ho.port = im.options.port;
  ho.threads = im.options.threads;
  ho.limits = im.options.limits.http;
  ho.access_log = im.options.access_log;
  ho.trusted_proxies = im.options.trusted_proxies;
  ho.on_refused = [&im](int status) {
    im.metrics.CountResponse(status);
    im.errors.Count(metrics::ErrorTable::KindOfStatus(status));
  };
  if (im.modules) {
    // Uploads to resource modules go to disk as they arrive (docs/modules.md): any body the pipeline does not parse
    // itself (JSON and urlencoded forms stay in memory within http.body_bytes) whose most specific route is a module.
    ho.spool_max = im.options.limits.modules.upload_bytes;
    ho.spool_total_bytes = im.options.limits.modules.uploads_total_bytes;
    ho.spool_limit = [&im](const http::Request& head) -> std::uint64_t {
      if (http::ParsesBody(head.header("content-type"))) return 0;
      auto snap = im.app.Load();
      const auto matches = snap->router->Resolve(head.path());
      if (matches.empty() || !matches.front().resource->TakesUploads()) return 0;
      return im.options.limits.modules.upload_bytes;
    };
  }
  im.hub->Start();
  if (im.redis) im.redis->Start();
  im.http = std::make_unique<http::Server>(
      ho, [&im](http::Request& req) { return im.pipeline->Handle(req); },
      [&im](http::Request& req, int fd, bool ipv6, http::ConnectionLease lease) {
        if (req.path().substr(0, kSocketIoPrefix.size()) != kSocketIoPrefix) return false;
        im.hub->Upgrade(Exchange(req, im.pipeline->IsRoot(req)), fd, ipv6, std::move(lease));
        return true;
      });
  if (Status s = im.http->Start(); !s.ok()) return s;
  // Every worker compiles the event scripts into its own isolate now, not on its first request.
  auto snap = im.app.Load();
  im.Warm(snap, true);
  spdlog::debug("event scripts compiled on each of {} workers", im.http->worker_count());
  im.StartWatcher();
  im.StartUpkeep();
  Monitor::Parts mp;
  mp.routes = &im.routes;
  mp.errors = &im.errors;
  mp.figures = [&im] { return FiguresJson(im.source_parts); };
  mp.send = [hub = im.hub.get()](const json::value& frame) { hub->EmitToWatchers("dpd:perf", frame); };
  mp.watched = [hub = im.hub.get()] { return hub->figures().watchers > 0; };
  mp.post = [http = im.http.get()](std::function<void(unsigned)> fn) { http->PostToWorkers(std::move(fn)); };
  mp.workers = im.http->worker_count();
  mp.alerts = im.options.alerts;
  im.monitor = std::make_unique<Monitor>(std::move(mp));
  im.monitor->Start();
  spdlog::info("dpd started app=\"{}\" env={} host={} port={} workers={} resources={}", snap->app.root.string(),
               im.options.environment, im.options.host, im.http->port(), im.http->worker_count(),
               snap->router->resources().size());
  return Status::Ok();
}

unsigned short AppServer::port() const { return impl_->http ? impl_->http->port() : 0; }
void AppServer::Stop() {
  if (impl_->monitor) impl_->monitor->Stop();
  impl_->StopWatcher();
  impl_->StopUpkeep();
  if (impl_->redis) impl_->redis->Stop();
  if (impl_->hub) impl_->hub->Stop();  // answers pending polls before the HTTP side drains
  if (impl_->http) impl_->http->Stop();
}
void AppServer::Wait() {
  if (impl_->http) impl_->http->Wait();
}
std::vector<std::string> AppServer::problems() const { return impl_->app.Load()->problems; }
Status AppServer::Reload() { return impl_->Reload(); }

Status AppServer::StoreReady() {
  auto check = [](store::Store* s) -> boost::asio::awaitable<Status> {
    try {
      co_return co_await s->Ready();
    } catch (const std::exception&) {
      co_return Status::Unavailable("the store check failed");
    }
  };
  return store::RunSync(check(impl_->store.get()));
}

}  // namespace dpd::server
