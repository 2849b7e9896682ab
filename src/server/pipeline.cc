#include "server/pipeline.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>

#include "base/log.h"
#include "http/query_string.h"

namespace dpd::server {
namespace {

constexpr std::string_view kReservedPrefix = "/__";
constexpr std::string_view kMethodOverride = "_method";

std::string Upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
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
http::Response ErrorObjectResponse(const http::Request& req, int status, json::object body) {
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

http::Response BodyResponse(int status, std::string body, std::string content_type) {
  http::Response res;
  res.status = status;
  res.body = std::move(body);
  res.Set("Content-Type", std::move(content_type));
  return res;
}

http::Response TextError(int status, std::string text) { return BodyResponse(status, std::move(text), "text/plain"); }

// A resource's streamed reply (a module's res.write) as the transport's body source.
class StreamBody final : public http::BodySource {
 public:
  explicit StreamBody(std::shared_ptr<resources::ReplyStream> stream) : stream_(std::move(stream)) {}
  boost::asio::awaitable<std::optional<std::string>> Next() override { return stream_->Next(); }

 private:
  std::shared_ptr<resources::ReplyStream> stream_;
};

// spec §3.8 / §3.9.
http::Response Render(const http::Request& req, resources::Reply reply) {
  using Kind = resources::Reply::Kind;
  http::Response res;
  switch (reply.kind) {
    case Kind::kError: {
      json::object body = reply.json.is_object() ? std::move(reply.json.as_object()) : json::object();
      res = ErrorObjectResponse(req, reply.status < 400 ? 400 : reply.status, std::move(body));
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
    case Kind::kBody:
      res.status = reply.status;
      res.body = std::move(reply.text);
      break;
    case Kind::kStream:
      res.status = reply.status;
      res.source = std::make_shared<StreamBody>(std::move(reply.stream));
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

}  // namespace

void AddNoCache(http::Response& res) {
  res.Set("Cache-Control", "no-cache, no-store, must-revalidate");
  res.Set("Pragma", "no-cache");
  res.Set("Expires", "0");
}

http::Response JsonResponse(int status, std::string body) {
  return BodyResponse(status, std::move(body), "application/json");
}

http::Response ErrorResponse(const http::Request& req, int status, std::string_view message) {
  json::object body;
  body["message"] = message;
  return ErrorObjectResponse(req, status, std::move(body));
}

Pipeline::Pipeline(Parts parts) : parts_(std::move(parts)) {}

void Pipeline::Reserve(Route route) {
  if (route.prefix) {
    std::erase_if(prefixes_, [&](const Route& r) { return r.path == route.path; });
    prefixes_.push_back(std::move(route));
    return;
  }
  std::string path = route.path;
  exact_.insert_or_assign(std::move(path), std::move(route));
}

const Pipeline::Route* Pipeline::FindReserved(std::string_view path, std::string_view method) const {
  auto answers = [method](const Route& r) {
    return r.methods.empty() || std::find(r.methods.begin(), r.methods.end(), method) != r.methods.end();
  };
  if (auto it = exact_.find(path); it != exact_.end() && answers(it->second)) return &it->second;
  for (const auto& r : prefixes_) {
    if (path.substr(0, r.path.size()) == r.path && answers(r)) return &r;
  }
  return nullptr;
}

boost::asio::awaitable<http::Response> Pipeline::Handle(http::Request& req) {
  const auto started = std::chrono::steady_clock::now();
  std::shared_ptr<const AppSnapshot> app = parts_.app->Load();  // this request's configuration, to its end
  std::string route;
#ifdef DPD_NO_METRICS
  std::shared_ptr<resources::Trace> trace;  // a build that measures what the metrics cost: no trace, no counting
#else
  auto trace = std::make_shared<resources::Trace>();
#endif
  http::Response res = co_await Run(req, app, route, trace);
  if (req.method != "OPTIONS") http::AddCorsHeaders(req, *parts_.cors, res);
  if (trace) Record(req, route, *trace, std::chrono::steady_clock::now() - started, res);
  co_return res;
}

void Pipeline::Record(const http::Request& req, const std::string& route, const resources::Trace& trace,
                      std::chrono::steady_clock::duration took, http::Response& res) const {
  const double seconds = std::chrono::duration<double>(took).count();
  parts_.metrics->CountResponse(res.status);
  if (parts_.routes != nullptr) parts_.routes->Observe(route, req.method, res.status, seconds);
  if (res.status >= 400 && parts_.errors != nullptr) {
    parts_.errors->Count(trace.error_kind ? std::string_view(trace.error_kind)
                                          : metrics::ErrorTable::KindOfStatus(res.status));
  }
  const double ms = seconds * 1000;
  const double script_ms = std::chrono::duration<double, std::milli>(trace.script).count();
  const double store_ms = std::chrono::duration<double, std::milli>(trace.store).count();
  if (parts_.access_log && spdlog::should_log(spdlog::level::info)) {
    res.log_fields = " resource=" + LogQuote(route) + " script_us=" + std::to_string(std::lround(script_ms * 1000)) +
                     " store_us=" + std::to_string(std::lround(store_ms * 1000));
  }
  if (route == "socket.io") return;  // long polls are slow by design
  if (ms >= static_cast<double>(parts_.slow_request.count())) {
    spdlog::warn(
        "slow request id={} method={} path={} resource={} status={} ms={:.1f} script_ms={:.1f} "
        "store_ms={:.1f} other_ms={:.1f}",
        req.id, req.method, LogQuote(req.path()), LogQuote(route), res.status, ms, script_ms, store_ms,
        std::max(0.0, ms - script_ms - store_ms));
  }
  Monitor* monitor = parts_.monitor ? parts_.monitor() : nullptr;
  if (monitor != nullptr && ms > monitor->keep_above_ms()) {
    const auto wall =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    monitor->Observe({req.method, std::string(req.path()), route, res.status, ms, script_ms, store_ms, wall});
  }
}

bool Pipeline::IsRoot(const http::Request& req) const {
  std::string_view key;
  if (const std::string* h = req.header("dpd-ssh-key")) {
    key = *h;
  } else if (const std::string* cookie = req.header("cookie")) {
    if (auto v = http::CookieValue(*cookie, "DpdSshKey")) key = *v;
  }
  return parts_.root_keys->Matches(key);
}

boost::asio::awaitable<http::Response> Pipeline::Run(http::Request& req, const std::shared_ptr<const AppSnapshot>& app,
                                                     std::string& label,
                                                     const std::shared_ptr<resources::Trace>& trace) {
  const std::string_view path = req.path();
  const Route* route = FindReserved(path, req.method);
  label = "(none)";
  if (route != nullptr) {
    std::string_view name = route->path;
    while (!name.empty() && name.front() == '/') name.remove_prefix(1);
    while (!name.empty() && name.back() == '/') name.remove_suffix(1);
    label = name;
  }
  if (route != nullptr && !route->resource) co_return co_await route->handle(req, *app);
  if (route == nullptr && path.substr(0, kReservedPrefix.size()) == kReservedPrefix) {
    co_return ErrorResponse(req, 404, "resource not found");
  }
  if (req.method == "OPTIONS") co_return http::AnswerOptions(req, *parts_.cors);

  // The most specific match names the request in the metrics, also when it fails before reaching it (a bad body).
  const std::vector<resources::Router::Match> matches =
      route != nullptr ? std::vector<resources::Router::Match>{} : app->router->Resolve(path);
  if (!matches.empty())
    label = matches.front().resource->name().empty() ? "(static)" : matches.front().resource->name();
  resources::Context ctx;
  ctx.trace = trace;
  if (auto bad = co_await Prepare(req, *app, ctx)) co_return std::move(*bad);
  if (route != nullptr) {  // a reserved resource (/__resources)
    std::string_view below = path.substr(std::min(path.size(), route->path.size()));
    ctx.url = below.empty() || below[0] != '/' ? "/" + std::string(below) : std::string(below);
    resources::Reply reply = co_await route->resource->Handle(ctx);
    if (reply.kind == resources::Reply::Kind::kNext || reply.kind == resources::Reply::Kind::kStatic) {
      co_return ErrorResponse(req, 404, "resource not found");
    }
    co_return co_await Answer(req, ctx, std::move(reply));
  }
  for (const auto& match : matches) {
    ctx.url = std::string(match.url);
    resources::Reply reply = co_await match.resource->Handle(ctx);
    if (reply.kind == resources::Reply::Kind::kNext) continue;
    label = match.resource->name().empty() ? "(static)" : match.resource->name();
    if (reply.kind == resources::Reply::Kind::kStatic) {
      std::optional<http::Response> res;
      if (reply.static_root == app->static_root->dir()) {
        res = app->static_root->Serve(req, ctx.method, reply.static_path);
      } else {
        res = http::StaticRoot(reply.static_root).Serve(req, ctx.method, reply.static_path);
      }
      if (res) co_return std::move(*res);
      continue;
    }
    co_return co_await Answer(req, ctx, std::move(reply));
  }
  co_return ErrorResponse(req, 404, "resource not found");
}

boost::asio::awaitable<std::optional<http::Response>> Pipeline::Prepare(http::Request& req, const AppSnapshot& app,
                                                                        resources::Context& ctx) {
  ctx.method = req.method;
  ctx.headers = &req.headers;
  ctx.target = &req.target;
  ctx.raw_body = &req.body;
  if (req.body_file) {
    ctx.body_fd = req.body_file->fd();
    ctx.body_file = req.body_file;
    ctx.body_file_bytes = req.body_file_bytes;
  }
  ctx.request_id = req.id;
  ctx.is_root = IsRoot(req);
  ctx.router = app.router;
  ctx.remote_ip = req.remote_ip;
  ctx.client_fd = req.client_fd;
  ctx.sessions = parts_.sessions;
  co_await ResolveSession(req, app, ctx);
  if (req.has_query()) {
    auto query = http::ParseQueryString(req.query(), parts_.json);
    if (!query.ok()) co_return TextError(400, query.status().message());
    ctx.query = std::move(*query);
  }
  // `_method` overrides only a POST (a GET link or image must never delete: spec §16.2 item 4).
  if (auto it = ctx.query.find(kMethodOverride); it != ctx.query.end()) {
    if (req.method == "POST" && it->value().is_string()) ctx.method = Upper(it->value().as_string());
    ctx.query.erase(it);
  }
  if (ctx.method == "POST" || ctx.method == "PUT" || ctx.method == "DELETE") {
    auto body = http::ParseBody(req.header("content-type"), req.body, parts_.json);
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
  co_return std::nullopt;
}

boost::asio::awaitable<http::Response> Pipeline::Answer(http::Request& req, resources::Context& ctx,
                                                        resources::Reply reply) {
  // Deployd's order: the frames a request emitted go out before its response (spec §6.7).
  if (ctx.calls && ctx.calls->emitted) co_await parts_.bus->Fence();
  if (reply.error_kind != nullptr && ctx.trace && ctx.trace->error_kind == nullptr) {
    ctx.trace->error_kind = reply.error_kind;
  }
  http::Response res = Render(req, std::move(reply));
  if (ctx.session_invalidated) res.Set("X-Session-Invalidated", "true");
  co_return res;
}

// spec §3.5 / §3.7: the session id from `Authorization: Bearer` or the `sid` cookie; its session and user.
// Requests without either allocate nothing here.
boost::asio::awaitable<void> Pipeline::ResolveSession(const http::Request& req, const AppSnapshot& app,
                                                      resources::Context& ctx) {
  const std::string sid = http::SessionIdOf(req, &ctx.bearer);
  if (sid.empty() || parts_.sessions == nullptr) co_return;
  ctx.session = co_await parts_.sessions->Find(sid);
  if (!ctx.session || ctx.session->uid.empty()) co_return;
  resources::UserCollection* users = app.users(ctx.session->path);
  if (users == nullptr) co_return;
  ctx.me = co_await users->LoadMe(*ctx.session, ctx.session_invalidated);
}

}  // namespace dpd::server
