#include "server/app_server.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sodium.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "config/app.h"
#include "config/keys.h"
#include "http/query_string.h"
#include "http/server.h"
#include "http/static_files.h"
#include "metrics/metrics.h"
#include "resources/collection.h"
#include "resources/factory.h"
#include "resources/files.h"
#include "resources/router.h"
#include "resources/user_collection.h"
#include "resources/realtime_emitter.h"
#include "realtime/hub.h"
#include "server/dpd_js.h"
#include "session/session_store.h"
#include "auth/rate_limiter.h"
#include "server/transfer.h"

namespace dpd::server {
namespace {

constexpr std::string_view kReservedPrefix = "/__";
constexpr std::string_view kSocketIoPrefix = "/socket.io/";
constexpr std::string_view kHealthPath = "/__health";
constexpr std::string_view kReadyPath = "/__ready";
constexpr std::string_view kMethodOverride = "_method";

void AddNoCache(http::Response& res) {
  res.Set("Cache-Control", "no-cache, no-store, must-revalidate");
  res.Set("Pragma", "no-cache");
  res.Set("Expires", "0");
}

http::Response JsonResponse(int status, std::string body) {
  http::Response res;
  res.status = status;
  res.body = std::move(body);
  res.Set("Content-Type", "application/json");
  return res;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// spec §3.9: the error object with "status" last; an HTML page when the client accepts html.
http::Response ErrorResponse(const http::Request& req, int status, json::object body) {
  body.erase("status");
  body["status"] = status;
  const std::string* accept = req.header("accept");
  if (accept != nullptr && accept->find("html") != std::string::npos) {
    http::Response res;
    res.status = status;
    const json::value* message = body.if_contains("message");
    std::string text = message && message->is_string() ? std::string(message->as_string()) : json::Write(body);
    res.body = "<!DOCTYPE html><html><head><title>" + std::to_string(status) + "</title></head><body><h1>" +
               std::to_string(status) + " " + HtmlEscape(text) + "</h1></body></html>";
    res.Set("Content-Type", "text/html");
    return res;
  }
  return JsonResponse(status, json::Write(body));
}

http::Response ErrorResponse(const http::Request& req, int status, std::string_view message) {
  json::object body;
  body["message"] = message;
  return ErrorResponse(req, status, std::move(body));
}

http::Response TextError(int status, std::string text) {
  http::Response res;
  res.status = status;
  res.body = std::move(text);
  res.Set("Content-Type", "text/plain");
  return res;
}

}  // namespace

// Root keys of .dpd/keys.json (spec §9), re-read when the file changes. Thread-safe.
class RootKeys {
 public:
  explicit RootKeys(std::filesystem::path file) : file_(std::move(file)) {}

  // Constant-time comparison against every key.
  bool Matches(std::string_view presented) {
    std::lock_guard lock(mu_);
    Refresh();
    bool match = false;
    for (const auto& k : keys_) {
      if (k.size() == presented.size() && sodium_memcmp(k.data(), presented.data(), k.size()) == 0) match = true;
    }
    return match;
  }

 private:
  void Refresh() {
    struct stat st {};
    std::int64_t stamp = ::stat(file_.c_str(), &st) == 0 ? st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec : -1;
    if (stamp == stamp_) return;
    stamp_ = stamp;
    auto keys = config::ReadKeys(file_);
    keys_ = keys.ok() ? std::move(*keys) : std::vector<std::string>{};
  }

  std::filesystem::path file_;
  std::mutex mu_;
  std::int64_t stamp_ = -2;        // guarded by mu_
  std::vector<std::string> keys_;  // guarded by mu_
};

Status ValidateStoreUrl(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0 && url.size() > 7) return Status::Ok();
  if (url.rfind("mongodb://", 0) == 0 || url.rfind("mongodb+srv://", 0) == 0) return Status::Ok();
  return Status::BadRequest("--db must be sqlite:<path> or a mongodb:// URI, got \"" + url + "\"");
}

struct AppServer::Impl {
  // Declared first so it is destroyed last: resources and in-flight requests use it.
  std::unique_ptr<store::Store> store;
  std::unique_ptr<resources::Emitter> emitter;
  std::unique_ptr<session::SessionStore> sessions;
  std::unique_ptr<realtime::Hub> hub;  // socket.io (spec §12)
  resources::RealtimeEmitter* realtime_emitter = nullptr;
  std::string dpd_js;  // the browser client with this app's resources
  std::unique_ptr<auth::RateLimiter> login_limiter;
  std::unique_ptr<auth::RateLimiter> signup_limiter;
  std::unique_ptr<boost::asio::thread_pool> hash_pool;  // argon2id, off the event loops
  std::map<std::string, resources::UserCollection*, std::less<>> user_collections;  // by path ("/users")
  // Session upkeep (expiry, lastActive) on its own small loop.
  boost::asio::io_context upkeep_io;
  std::thread upkeep;
  Options options;
  config::App app;
  std::vector<std::string> problems;
  std::unique_ptr<resources::Router> router;
  std::shared_ptr<resources::FilesResource> files;
  std::unique_ptr<http::StaticRoot> static_root;  // the files resource's folder, opened once
  metrics::Registry metrics;
  std::unique_ptr<http::Server> http;
  std::unique_ptr<RootKeys> root_keys;
  bool any_key_is_root = false;  // development on a loopback listener only

  // Event scripts edited on disk are picked up within a second (polled: a stat per script file).
  std::thread watcher;
  std::mutex watcher_mu;
  std::condition_variable watcher_cv;
  bool watcher_stop = false;  // guarded by watcher_mu

  ~Impl() {
    StopWatcher();
    StopUpkeep();
  }

  void StartWatcher() {
    std::vector<std::pair<const config::ResourceConfig*, resources::Collection*>> watched;
    for (const auto& rc : app.resources) {
      for (const auto& r : router->resources()) {
        if (r->name() != rc.name) continue;
        if (auto* c = dynamic_cast<resources::Collection*>(r.get())) watched.emplace_back(&rc, c);
      }
    }
    if (watched.empty()) return;
    watcher = std::thread([this, watched] {
      std::vector<std::string> stamps;
      for (const auto& w : watched) stamps.push_back(config::ScriptsStamp(w.first->dir));
      std::unique_lock lock(watcher_mu);
      while (!watcher_cv.wait_for(lock, std::chrono::seconds(1), [this] { return watcher_stop; })) {
        for (std::size_t i = 0; i < watched.size(); ++i) {
          std::string stamp = config::ScriptsStamp(watched[i].first->dir);
          if (stamp == stamps[i]) continue;
          stamps[i] = std::move(stamp);
          resources::EventRunner& events = watched[i].second->mutable_events();
          events.Reload(config::LoadScripts(watched[i].first->dir));
          spdlog::info("event scripts reloaded resource={}", watched[i].first->name);
          // Compile on every worker now; report syntax errors once.
          auto reported = std::make_shared<std::atomic<bool>>(false);
          http->RunOnEachWorker([&events, reported] {
            auto problems = events.Warm();
            if (!reported->exchange(true)) {
              for (const auto& p : problems) spdlog::error("event script: {}", p);
            }
          });
        }
      }
    });
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
  void StartUpkeep() {
    boost::asio::co_spawn(upkeep_io, UpkeepLoop(sessions.get()), boost::asio::detached);
    upkeep = std::thread([this] { upkeep_io.run(); });
  }
  void StopUpkeep() {
    upkeep_io.stop();
    if (upkeep.joinable()) upkeep.join();
  }

  void StopWatcher() {
    {
      std::lock_guard lock(watcher_mu);
      watcher_stop = true;
    }
    watcher_cv.notify_all();
    if (watcher.joinable()) watcher.join();
  }

  bool IsRoot(const http::Request& req) {
    std::string_view key;
    if (const std::string* h = req.header("dpd-ssh-key")) {
      key = *h;
    } else if (const std::string* cookie = req.header("cookie")) {
      if (auto v = http::CookieValue(*cookie, "DpdSshKey")) key = *v;
    }
    if (key.empty()) return false;
    return any_key_is_root || root_keys->Matches(key);
  }

  boost::asio::awaitable<http::Response> Handle(http::Request& req) {
    http::Response res = co_await Pipeline(req);
    if (req.method != "OPTIONS") http::AddCorsHeaders(req, options.cors, res);
    metrics.CountResponse(res.status);
    co_return res;
  }

  // A /socket.io/ request as the realtime hub takes it.
  realtime::HttpExchange Exchange(const http::Request& req) {
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
    return ex;
  }

  boost::asio::awaitable<http::Response> Pipeline(http::Request& req) {
    const std::string_view path = req.path();
    if (path == "/dpd.js" && (req.method == "GET" || req.method == "HEAD")) {
      http::Response res;
      res.body = dpd_js;
      res.head = req.method == "HEAD";
      res.Set("Content-Type", "text/javascript");
      co_return res;
    }
    if (path.substr(0, kSocketIoPrefix.size()) == kSocketIoPrefix) {
      realtime::HttpAnswer answer = co_await hub->Poll(Exchange(req));
      http::Response res;
      res.status = answer.status;
      res.body = std::move(answer.body);
      res.Set("Content-Type", answer.content_type);
      AddNoCache(res);
      co_return res;
    }
    if (path.substr(0, kReservedPrefix.size()) == kReservedPrefix) {
      if (path == kReadyPath && (req.method == "GET" || req.method == "HEAD")) {
        // Ready = the store answers (MongoDB: a ping). For load balancers; /__health says the process lives.
        Status ready = co_await store->Ready();
        json::object body{{"ready", ready.ok()}, {"store", store->Stats()}};
        if (!ready.ok()) body["message"] = ready.message();
        http::Response res = JsonResponse(ready.ok() ? 200 : 503, json::Write(body));
        AddNoCache(res);
        res.head = req.method == "HEAD";
        co_return res;
      }
      if (path == kHealthPath && (req.method == "GET" || req.method == "HEAD")) {
        http::Response res = JsonResponse(200, metrics.HealthJson());
        AddNoCache(res);
        res.head = req.method == "HEAD";
        co_return res;
      }
      co_return ErrorResponse(req, 404, "resource not found");
    }
    if (req.method == "OPTIONS") co_return http::AnswerOptions(req, options.cors);

    resources::Context ctx;
    ctx.method = req.method;
    ctx.headers = &req.headers;
    ctx.request_id = req.id;
    ctx.is_root = IsRoot(req);
    ctx.router = router.get();
    ctx.remote_ip = req.remote_ip;
    ctx.client_fd = req.client_fd;
    ctx.sessions = sessions.get();
    co_await ResolveSession(req, ctx);
    if (req.has_query()) {
      auto query = http::ParseQueryString(req.query(), options.limits.json);
      if (!query.ok()) co_return TextError(400, query.status().message());
      ctx.query = std::move(*query);
    }
    // `_method` overrides only a POST (a GET link or image must never delete: spec §16.2 item 4).
    if (auto it = ctx.query.find(kMethodOverride); it != ctx.query.end()) {
      if (req.method == "POST" && it->value().is_string()) ctx.method = Upper(it->value().as_string());
      ctx.query.erase(it);
    }
    if (ctx.method == "POST" || ctx.method == "PUT" || ctx.method == "DELETE") {
      auto body = http::ParseBody(req.header("content-type"), req.body, options.limits.json);
      if (!body.ok()) co_return TextError(400, body.status().message());
      ctx.body = std::move(*body);
      if (ctx.body && ctx.body->is_object()) {
        auto& obj = ctx.body->as_object();
        if (auto it = obj.find(kMethodOverride); it != obj.end()) {
          if (req.method == "POST" && it->value().is_string()) ctx.method = Upper(it->value().as_string());
          obj.erase(it);
        }
      }
    }

    for (const auto& match : router->Resolve(path)) {
      ctx.url = std::string(match.url);
      resources::Reply reply = co_await match.resource->Handle(ctx);
      if (reply.kind == resources::Reply::Kind::kNext) continue;
      if (reply.kind == resources::Reply::Kind::kStatic) {
        std::optional<http::Response> res;
        if (reply.static_root == static_root->dir()) {
          res = static_root->Serve(req, ctx.method, reply.static_path);
        } else {
          res = http::StaticRoot(reply.static_root).Serve(req, ctx.method, reply.static_path);
        }
        if (res) co_return std::move(*res);
        continue;
      }
      // Deployd's order: the frames a request emitted go out before its response (spec §6.7).
      if (ctx.calls && ctx.calls->emitted) co_await hub->Fence();
      http::Response res = Render(req, std::move(reply));
      if (ctx.session_invalidated) res.Set("X-Session-Invalidated", "true");
      co_return res;
    }
    co_return ErrorResponse(req, 404, "resource not found");
  }

  // spec §3.5 / §3.7: the session id from `Authorization: Bearer` or the `sid` cookie; its session and user.
  // Requests without either allocate nothing here.
  boost::asio::awaitable<void> ResolveSession(const http::Request& req, resources::Context& ctx) {
    std::string sid;
    if (const std::string* auth = req.header("authorization")) {
      std::string_view a = *auth;
      if (a.size() >= 6 && (a[0] == 'B' || a[0] == 'b') && Upper(a.substr(0, 6)) == "BEARER" &&
          (a.size() == 6 || a[6] == ' ')) {
        ctx.bearer = true;
        std::string_view token = a.substr(std::min<std::size_t>(a.size(), 7));
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
        while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
        sid = std::string(token);
      }
    }
    if (sid.empty()) {
      if (const std::string* cookie = req.header("cookie")) {
        if (auto v = http::CookieValue(*cookie, "sid")) sid = std::string(*v);
      }
    }
    if (sid.empty() || !sessions) co_return;
    ctx.session = co_await sessions->Find(sid);
    if (!ctx.session || ctx.session->uid.empty()) co_return;
    auto it = user_collections.find(ctx.session->path);
    if (it == user_collections.end()) co_return;
    ctx.me = co_await it->second->LoadMe(*ctx.session, ctx.session_invalidated);
  }

  static std::string Upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  }

  // spec §3.8 / §3.9.
  static http::Response Render(const http::Request& req, resources::Reply reply) {
    using Kind = resources::Reply::Kind;
    http::Response res;
    switch (reply.kind) {
      case Kind::kError: {
        json::object body = reply.json.is_object() ? std::move(reply.json.as_object()) : json::object();
        res = ErrorResponse(req, reply.status < 400 ? 400 : reply.status, std::move(body));
        break;
      }
      case Kind::kJson:
        res = JsonResponse(reply.status, json::Write(reply.json));
        AddNoCache(res);
        break;
      case Kind::kRawJson:
        res = JsonResponse(reply.status, std::move(reply.text));
        AddNoCache(res);
        break;
      case Kind::kText:
        res.status = reply.status;
        res.body = std::move(reply.text);
        res.Set("Content-Type", "text/html; charset=utf-8");
        AddNoCache(res);
        break;
      default:
        res.status = reply.status;
        if (res.status != 204 && res.status != 304) res.Set("Content-Type", "text/html; charset=utf-8");
        AddNoCache(res);
        break;
    }
    for (auto& [n, v] : reply.headers) res.Set(std::move(n), std::move(v));
    return res;
  }
};

AppServer::AppServer() : impl_(std::make_unique<Impl>()) {}
AppServer::~AppServer() = default;

Result<std::unique_ptr<AppServer>> AppServer::Create(Options options) {
  if (!options.db.empty()) {
    if (Status s = ValidateStoreUrl(options.db); !s.ok()) return s;
  }
  auto app = config::LoadApp(options.app_dir, options.environment);
  if (!app.ok()) return app.status();
  std::unique_ptr<AppServer> server(new AppServer());
  Impl& im = *server->impl_;
  im.options = std::move(options);
  im.app = std::move(*app);
  im.problems = im.app.problems;
  const std::string& db = im.options.db;
  auto opened = OpenStore(db, im.app.root, im.options.limits.query.time_budget);
  if (!opened.ok()) return opened.status();
  im.store = std::move(*opened);
  im.root_keys = std::make_unique<RootKeys>(im.app.root / ".dpd" / "keys.json");
  const std::string& host = im.options.host;
  im.any_key_is_root = im.options.environment == "development" &&
                       (host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0);
  session::SessionOptions so;
  so.max_age = im.options.limits.session.max_age;
  so.cache_entries = im.options.limits.session.cache_entries;
  im.sessions = std::make_unique<session::SessionStore>(im.store.get(), so);
  if (Status s = im.sessions->Prepare(); !s.ok()) return s;
  im.hub = std::make_unique<realtime::Hub>(im.options.limits.realtime, im.options.limits.json, im.sessions.get());
  im.sessions->SetListener([hub = im.hub.get()](const std::string& sid, const session::SessionPtr& s) {
    hub->SessionChanged(sid, s);
  });
  auto emitter = std::make_unique<resources::RealtimeEmitter>(im.hub.get());
  im.realtime_emitter = emitter.get();
  im.emitter = std::move(emitter);
  im.login_limiter = std::make_unique<auth::RateLimiter>(im.options.limits.session.login_attempts,
                                                         im.options.limits.session.login_window);
  im.hash_pool = std::make_unique<boost::asio::thread_pool>(2);
  resources::Dependencies deps{im.store.get(), im.options.limits, im.emitter.get(), {}};
  deps.users.sessions = im.sessions.get();
  deps.users.hash_pool = im.hash_pool.get();
  deps.users.login_limiter = im.login_limiter.get();
  im.signup_limiter = std::make_unique<auth::RateLimiter>(im.options.limits.session.signups,
                                                          im.options.limits.session.signup_window);
  deps.users.signup_limiter = im.signup_limiter.get();
  deps.users.login_window_ms = im.options.limits.session.login_window.count();
  deps.users.signup_window_ms = im.options.limits.session.signup_window.count();
  deps.users.max_password_bytes = im.options.limits.session.password_bytes;
  const SessionLimits& sl = im.options.limits.session;
  deps.users.hash_cost.memory_bytes = sl.hash_memory_kib * 1024;
  deps.users.hash_cost.ops = sl.hash_passes;
  if (sl.hash_memory_kib < 19 * 1024 || sl.hash_passes < 2) {
    spdlog::warn("password hashing is weaker than OWASP's minimum (19 MiB, 2 passes): session.hash_memory_kib={} "
                 "session.hash_passes={} — for benchmarks and tests only",
                 sl.hash_memory_kib, sl.hash_passes);
  }
  std::vector<std::shared_ptr<resources::Resource>> list;
  for (const auto& rc : im.app.resources) {
    auto r = resources::MakeResource(rc, deps);
    if (!r.ok()) {
      im.problems.push_back(r.status().message());
      continue;
    }
    list.push_back(std::move(*r));
  }
  for (const auto& p : im.problems) spdlog::error("resource skipped: {}", p);
  im.files = std::make_shared<resources::FilesResource>(im.app.public_dir);
  im.static_root = std::make_unique<http::StaticRoot>(im.app.public_dir);
  im.router = std::make_unique<resources::Router>(std::move(list), im.files);
  for (const auto& r : im.router->resources()) {
    if (auto* u = dynamic_cast<resources::UserCollection*>(r.get())) im.user_collections.emplace(u->path(), u);
  }
  im.realtime_emitter->SetRouter(im.router.get());
  // /dpd.js: the client, then dpd.<name> for every collection (spec §4.4).
  im.dpd_js = std::string(kDpdJs) + "\n";
  for (const auto& r : im.router->resources()) {
    if (r->type() != "Collection" && r->type() != "UserCollection") continue;
    std::string js_name;
    for (char c : r->name()) {
      if (std::isalnum(static_cast<unsigned char>(c))) js_name += c;
    }
    im.dpd_js += "dpd._resource(" + json::Write(json::value(json::string(js_name))) + ", " +
                 json::Write(json::value(json::string(r->path()))) + ", " +
                 (r->type() == "UserCollection" ? "true" : "false") + ");\n";
  }
  return server;
}

Status AppServer::Start() {
  Impl& im = *impl_;
  http::ServerOptions ho;
  ho.host = im.options.host;
  ho.port = im.options.port;
  ho.threads = im.options.threads;
  ho.limits = im.options.limits.http;
  im.hub->Start();
  im.http = std::make_unique<http::Server>(
      ho, [&im](http::Request& req) { return im.Handle(req); },
      [&im](http::Request& req, int fd, bool ipv6, http::ConnectionLease lease) {
        if (req.path().substr(0, kSocketIoPrefix.size()) != kSocketIoPrefix) return false;
        im.hub->Upgrade(im.Exchange(req), fd, ipv6, std::move(lease));
        return true;
      });
  if (Status s = im.http->Start(); !s.ok()) return s;
  // Every worker compiles the event scripts into its own isolate now, not on its first request.
  im.http->RunOnEachWorker([&im] {
    for (const auto& r : im.router->resources()) {
      if (auto* c = dynamic_cast<const resources::Collection*>(r.get())) c->events().Warm();
    }
  });
  spdlog::debug("event scripts compiled on each of {} workers", im.http->worker_count());
  im.StartWatcher();
  im.StartUpkeep();
  spdlog::info("dpd started app=\"{}\" env={} host={} port={} workers={} resources={}", im.app.root.string(),
               im.options.environment, im.options.host, im.http->port(), im.http->worker_count(),
               im.router->resources().size());
  return Status::Ok();
}

unsigned short AppServer::port() const { return impl_->http ? impl_->http->port() : 0; }
void AppServer::Stop() {
  impl_->StopWatcher();
  impl_->StopUpkeep();
  if (impl_->hub) impl_->hub->Stop();  // answers pending polls before the HTTP side drains
  if (impl_->http) impl_->http->Stop();
}
void AppServer::Wait() {
  if (impl_->http) impl_->http->Wait();
}
const std::vector<std::string>& AppServer::problems() const { return impl_->problems; }

}  // namespace dpd::server
