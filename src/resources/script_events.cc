#include "resources/script_events.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <optional>

#include "base/log.h"
#include "query/js.h"
#include "resources/router.h"

namespace dpd::resources {
namespace {

using Executor = boost::asio::any_io_executor;

const char* FileOf(Event e) {
  switch (e) {
    case Event::kBeforeRequest: return "beforerequest.js";
    case Event::kValidate: return "validate.js";
    case Event::kPost: return "post.js";
    case Event::kPut: return "put.js";
    case Event::kGet: return "get.js";
    case Event::kDelete: return "delete.js";
    case Event::kAfterCommit: return "aftercommit.js";
    case Event::kLogin: return "login.js";
  }
  return "";
}

// Every name an event script can use (spec §6.3–6.4); the ones a given event does not provide are undefined.
// `require` and `process` are deliberately absent: using them is a ReferenceError.
const std::vector<std::string>& ParameterNames() {
  static const std::vector<std::string> names = {
      "me",     "isMe",    "query",     "ctx",       "session", "internal", "isRoot",      "cancel",
      "cancelIf", "cancelUnless", "emit", "dpd",     "console", "data",     "previous",    "changed",
      "protect", "unprotect", "hide",   "unhide",    "error",   "errorIf",  "errorUnless", "hasErrors",
      "method", "event",   "success",   "$addCallback", "$finishCallback"};
  return names;
}

// What an in-process dpd call needs from its caller, copied so that it outlives the caller's event if need be.
struct Caller {
  const Router* router = nullptr;
  bool is_root = false;
  std::uint64_t request_id = 0;
  HeaderList headers;
  std::shared_ptr<CallTree> calls;
  std::shared_ptr<const CallFrame> frame;
  session::SessionPtr session;  // the caller's session and user travel with the call (spec §10)
  std::optional<json::object> me;
  session::SessionStore* sessions = nullptr;
  std::size_t max_calls = 0;
  std::chrono::milliseconds tree_time{0};
  Executor executor;
};

struct InternalJob {
  std::shared_ptr<Caller> caller;
  std::shared_ptr<const CallFrame> frame;
  script::HostRequest request;
  std::function<void(script::HostResponse)> done;
};

// A reply as the dpd client sees it: the body on success, the error body (with "status") otherwise.
script::HostResponse ToHost(Reply& reply) {
  script::HostResponse out;
  switch (reply.kind) {
    case Reply::Kind::kError: {
      json::object body = reply.json.is_object() ? std::move(reply.json.as_object()) : json::object();
      body["status"] = reply.status;
      out.body_json = json::Write(body);
      return out;
    }
    case Reply::Kind::kJson:
      out.body_json = json::Write(reply.json);
      break;
    case Reply::Kind::kRawJson:
      out.body_json = std::move(reply.text);
      break;
    case Reply::Kind::kText:
      out.body_json = json::Write(json::value(json::string(reply.text)));
      break;
    default:
      break;
  }
  out.ok = reply.status < 400;
  return out;
}

boost::asio::awaitable<void> InternalCall(std::shared_ptr<InternalJob> job) {
  script::HostResponse response;
  try {
    Context child;
    child.method = job->request.method;
    child.url = job->request.path;
    if (job->request.query.is_object()) child.query = job->request.query.as_object();
    if (job->request.has_body) child.body = job->request.body;
    child.headers = &job->caller->headers;
    child.is_root = job->caller->is_root;
    child.request_id = job->caller->request_id;
    child.internal = true;
    child.calls = job->caller->calls;
    child.frame = job->frame;
    child.router = job->caller->router;
    child.session = job->caller->session;
    child.me = job->caller->me;
    child.sessions = job->caller->sessions;
    Reply reply = co_await job->caller->router->Dispatch(child);
    response = ToHost(reply);
  } catch (const std::exception& e) {
    spdlog::error("internal dpd call failed: {}", e.what());
    response.ok = false;
    response.body_json = R"({"message":"Internal error","status":500})";
  }
  job->done(std::move(response));
}

// The recursion limit of a request tree: $limitRecursion from the top-level request's query or body (spec §10).
std::size_t RecursionLimit(const Context& ctx, std::size_t max) {
  const std::optional<double> n = RequestedRecursion(ctx);
  if (!n || !(*n >= 0)) return 2;
  return std::min(static_cast<std::size_t>(*n), max);
}

std::function<void(script::HostRequest, std::function<void(script::HostResponse)>)> MakeRequester(
    Context& ctx, const ScriptLimits& limits, Executor executor) {
  if (!ctx.calls) {
    ctx.calls = std::make_shared<CallTree>();
    ctx.calls->limit = RecursionLimit(ctx, limits.recursion_max);
  }
  auto caller = std::make_shared<Caller>();
  caller->router = ctx.router;
  caller->is_root = ctx.is_root;
  caller->request_id = ctx.request_id;
  if (ctx.headers) caller->headers = *ctx.headers;
  caller->calls = ctx.calls;
  caller->frame = ctx.frame;
  caller->session = ctx.session;
  caller->me = ctx.me;
  caller->sessions = ctx.sessions;
  caller->max_calls = limits.internal_calls;
  caller->tree_time = limits.tree_time;
  caller->executor = std::move(executor);
  return [caller](script::HostRequest req, std::function<void(script::HostResponse)> done) {
    CallTree& tree = *caller->calls;
    std::string key = req.method + " " + req.path;
    std::size_t seen = 0;
    for (const CallFrame* f = caller->frame.get(); f != nullptr; f = f->parent.get()) seen += f->key == key ? 1 : 0;
    const bool late = std::chrono::steady_clock::now() - tree.started > caller->tree_time;
    if (seen >= tree.limit || tree.calls >= caller->max_calls || late) {
      std::string message = seen >= tree.limit ? "Recursive call to " + key + " detected"
                            : late             ? "dpd calls of one request ran too long (script.tree_time_ms)"
                                               : "Too many dpd calls in one request (script.internal_calls)";
      // Answered later, never inside the call that asked.
      boost::asio::post(caller->executor, [done = std::move(done), message = std::move(message)] {
        done(script::HostResponse{false, json::Write(json::value(json::string(message)))});
      });
      return;
    }
    ++tree.calls;
    auto job = std::make_shared<InternalJob>();
    job->caller = caller;
    job->frame = std::make_shared<const CallFrame>(CallFrame{std::move(key), caller->frame});
    job->request = std::move(req);
    job->done = std::move(done);
    // Posted, not spawned here: Boost 1.81's co_spawn starts the coroutine inline (dispatch), which would run the
    // called collection's events inside the caller's entry into V8.
    boost::asio::post(caller->executor, [job = std::move(job)]() mutable {
      Executor executor = job->caller->executor;
      boost::asio::co_spawn(executor, InternalCall(std::move(job)), boost::asio::detached);
    });
  };
}

// Maps what a script did to the collection's terms (spec §6.6).
void MapFailure(const script::Outcome& out, const std::string& file, EventOutcome& result) {
  switch (out.kind) {
    case script::Outcome::Kind::kOk:
    case script::Outcome::Kind::kPending:
      break;
    case script::Outcome::Kind::kCancelled:
      result.status = Status::BadRequest(out.message);
      result.http_status = out.status_given && out.status >= 400 && out.status <= 599 ? out.status : 400;
      result.status_code_field = out.status_given;
      break;
    case script::Outcome::Kind::kError:
      result.status = Status::BadRequest(out.message);
      result.http_status = out.status_given && out.status >= 400 && out.status <= 599 ? out.status : 400;
      result.fatal = true;
      break;
    case script::Outcome::Kind::kTimeout:
    case script::Outcome::Kind::kOutOfMemory:
      spdlog::error("script stopped file={} reason=\"{}\"", file, out.message);
      result.status = Status::Internal(out.message);
      result.http_status = 500;
      result.fatal = true;
      break;
  }
}

struct Waiter {
  explicit Waiter(const Executor& executor) : timer(executor) {}
  boost::asio::steady_timer timer;
  std::optional<script::Outcome> outcome;
};

}  // namespace

ScriptEvents::ScriptEvents(std::string resource, std::map<std::string, std::string> scripts,
                           const ScriptLimits& limits, Emitter* emitter)
    : resource_(std::move(resource)), limits_(limits), emitter_(emitter) {
  Reload(std::move(scripts));
}

std::shared_ptr<const ScriptEvents::ScriptSet> ScriptEvents::Build(std::map<std::string, std::string> scripts) const {
  auto set = std::make_shared<ScriptSet>();
  for (auto& [name, source] : scripts) {
    Script s;
    s.file = "resources/" + resource_ + "/" + name;
    s.uses_dpd = source.find("dpd") != std::string::npos;
    s.uses_headers = source.find("headers") != std::string::npos;
    s.uses_session = source.find("session") != std::string::npos;
    s.source = std::move(source);
    set->emplace(name, std::move(s));
  }
  return set;
}

void ScriptEvents::Reload(std::map<std::string, std::string> scripts) {
  auto set = Build(std::move(scripts));
  unsigned present = 0;
  for (int e = 0; e <= static_cast<int>(Event::kLogin); ++e) {
    if (set->count(FileOf(static_cast<Event>(e)))) present |= 1u << e;
  }
  scripts_.store(std::move(set), std::memory_order_release);
  present_.store(present, std::memory_order_release);
}

bool ScriptEvents::Has(Event event) const {
  return (present_.load(std::memory_order_acquire) >> static_cast<int>(event)) & 1u;
}

const ScriptEvents::Script* ScriptEvents::Find(const ScriptSet& set, Event event) {
  auto it = set.find(FileOf(event));
  return it == set.end() ? nullptr : &it->second;
}

std::vector<std::string> ScriptEvents::Warm() const {
  std::vector<std::string> problems;
  auto set = Current();
  for (const auto& [name, script] : *set) {
    Status s = script::Runtime::ForThisThread(limits_).Check({script.file, script.source}, ParameterNames());
    if (!s.ok()) problems.push_back(s.message());
  }
  return problems;
}

void ScriptEvents::AddCommon(const Script& script, const std::string& method, Context* ctx,
                             script::Invocation& inv) const {
  const bool root = ctx && ctx->is_root;
  inv.values.emplace_back("query", ctx ? ctx->query : json::object());
  inv.values.emplace_back("isRoot", root);
  json::object req{{"method", method}, {"isRoot", root}};
  json::object c{{"method", method}};
  if (ctx) {
    req["url"] = ctx->url;
    c["url"] = ctx->url;
    if (ctx->body) c["body"] = *ctx->body;
    if (ctx->internal) {
      req["internal"] = true;
      inv.values.emplace_back("internal", true);
    }
    if (ctx->me) inv.values.emplace_back("me", *ctx->me);
    if (script.uses_session) {
      json::object data;
      if (ctx->session) {
        data = ctx->session->ToFields();
        data["id"] = ctx->session->id;
      }
      json::object s{{"data", std::move(data)}, {"isRoot", root}};
      inv.values.emplace_back("session", std::move(s));
    }
    if (script.uses_headers && ctx->headers) {
      json::object headers;
      for (const auto& [n, v] : *ctx->headers) headers[n] = v;
      req["headers"] = std::move(headers);
    }
  }
  c["req"] = std::move(req);
  inv.values.emplace_back("ctx", std::move(c));
}

boost::asio::awaitable<script::Outcome> ScriptEvents::Execute(const Script& script, script::Invocation& inv,
                                                              Context* ctx) {
  Executor executor = co_await boost::asio::this_coro::executor;
  if (ctx && !ctx->calls) {
    ctx->calls = std::make_shared<CallTree>();
    ctx->calls->limit = RecursionLimit(*ctx, limits_.recursion_max);
  }
  if (ctx && ctx->router && script.uses_dpd) {
    inv.clients_json = ctx->router->clients_json();
    inv.request = MakeRequester(*ctx, limits_, executor);
  }
  const std::string& file = script.file;
  inv.log = [&file](std::string_view line) { spdlog::info("script file={} console=\"{}\"", file, line); };
  Emitter* emitter = emitter_;
  std::shared_ptr<CallTree> tree = ctx ? ctx->calls : nullptr;
  inv.emit = [emitter, file, executor, tree](const json::array& args) {
    EmitMessage message;
    if (ReadEmit(args, message)) {
      if (tree) tree->emitted = true;
      emitter->Emit(message, executor);
    } else {
      spdlog::warn("script file={} emit() with {} arguments ignored (spec §6.7 forms only)", file, args.size());
    }
  };
  auto waiter = std::make_shared<Waiter>(executor);
  inv.on_complete = [waiter](script::Outcome o) {
    waiter->outcome = std::move(o);
    waiter->timer.cancel();
  };
  script::Runtime& runtime = script::Runtime::ForThisThread(limits_);
  script::Outcome out = runtime.Run({script.file, script.source}, ParameterNames(), std::move(inv));
  if (out.kind != script::Outcome::Kind::kPending) co_return out;
  waiter->timer.expires_after(limits_.event_time);
  boost::system::error_code ec;
  co_await waiter->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  if (waiter->outcome) co_return std::move(*waiter->outcome);
  script::Runtime::ForThisThread(limits_).Abandon(out.call_id);
  script::Outcome late;
  late.kind = script::Outcome::Kind::kTimeout;
  late.message = file + ": script did not finish within " + std::to_string(limits_.event_time.count()) +
                 " ms (dpd callbacks or $addCallback still pending)";
  co_return late;
}

boost::asio::awaitable<void> ScriptEvents::ApplySession(json::object& changes, Context& ctx) {
  // session.save()/joinRoom()/… of a stored session are persisted; an anonymous session stays unsaved (nothing is
  // allocated for anonymous clients; Deployd saved one whose id no client ever learnt).
  if (!ctx.session || ctx.sessions == nullptr) co_return;
  if (query::js::Truthy(changes.if_contains("remove"))) {
    (void)co_await ctx.sessions->Remove(ctx.session->id);
    ctx.session = nullptr;
    co_return;
  }
  const json::value* data = changes.if_contains("data");
  if (!query::js::Truthy(changes.if_contains("save")) || data == nullptr || !data->is_object()) co_return;
  store::Document doc{ctx.session->id, data->as_object()};
  doc.fields.stable_erase("id");
  auto updated = std::make_shared<session::Session>(session::Session::FromDocument(doc));
  // The identity of a session is not the script's to change.
  updated->uid = ctx.session->uid;
  updated->path = ctx.session->path;
  updated->userhash = ctx.session->userhash;
  updated->created_on = ctx.session->created_on;
  updated->last_active = ctx.session->last_active;
  session::SessionPtr ptr = std::move(updated);
  Status s = co_await ctx.sessions->Save(ptr);
  if (s.ok()) ctx.session = ptr;
  else spdlog::warn("session not saved: {}", s.message());
}

boost::asio::awaitable<Result<std::string>> ScriptEvents::RunGetList(Context& ctx, const std::string& documents_json,
                                                                     bool single, EventOutcome& failure) {
  std::shared_ptr<const ScriptSet> set = Current();  // kept for the whole call
  const Script* script = Find(*set, Event::kGet);
  if (script == nullptr) co_return Status::Internal("no get.js");
  script::Invocation inv;
  inv.allow_errors = inv.allow_hide = true;
  inv.documents_json = &documents_json;
  inv.single = single;
  AddCommon(*script, ctx.method, &ctx, inv);
  script::Outcome out = co_await Execute(*script, inv, &ctx);
  if (out.kind != script::Outcome::Kind::kOk) {
    MapFailure(out, script->file, failure);
    co_return failure.status;
  }
  co_return std::move(out.list_json);
}

boost::asio::awaitable<EventOutcome> ScriptEvents::Run(const EventCall& call) {
  EventOutcome result;
  std::shared_ptr<const ScriptSet> set = Current();  // kept for the whole call
  const Script* script = Find(*set, call.event);
  if (script == nullptr) co_return result;

  script::Invocation inv;
  if (call.data) inv.self = *call.data;
  const bool per_document = call.event == Event::kGet || call.event == Event::kDelete;
  const bool writing = call.event == Event::kValidate || call.event == Event::kPost || call.event == Event::kPut;
  inv.allow_errors = per_document || writing;
  inv.allow_hide = per_document || writing;
  inv.allow_protect = writing;
  AddCommon(*script, call.method, call.ctx, inv);
  if (call.query) inv.values.front().second = *call.query;  // "query" (the collection's live query)
  if (call.data && call.event != Event::kBeforeRequest) inv.values.emplace_back("data", *call.data);
  if (call.event == Event::kBeforeRequest) {
    inv.values.emplace_back("event", call.method);
    if (call.data && (call.method == "POST" || call.method == "PUT")) inv.values.emplace_back("data", *call.data);
  }
  if (writing) inv.values.emplace_back("previous", call.previous ? *call.previous : json::object());
  if (call.event == Event::kAfterCommit) {
    inv.values.emplace_back("method", call.method);
    if (call.previous) inv.values.emplace_back("previous", *call.previous);
  }
  if (call.event == Event::kLogin) {
    // me and data: copies of the user (null when there is no such user); success: the credentials were right.
    json::value user = call.data && !call.data->empty() ? json::value(*call.data) : json::value(nullptr);
    inv.values.emplace_back("me", user);  // later values win: this replaces the session's `me`
    inv.values.emplace_back("data", user);
    inv.values.emplace_back("success", call.success);
  }

  script::Outcome out = co_await Execute(*script, inv, call.ctx);
  if (out.session.is_object() && call.ctx) co_await ApplySession(out.session.as_object(), *call.ctx);
  MapFailure(out, script->file, result);
  if (out.kind == script::Outcome::Kind::kOk || out.kind == script::Outcome::Kind::kCancelled) {
    if (call.data) *call.data = std::move(out.self);
    if (call.query && out.query.is_object()) *call.query = std::move(out.query.as_object());
  }
  result.errors = std::move(out.errors);
  result.hidden = std::move(out.hidden);
  result.protected_fields = std::move(out.protected_fields);
  co_return result;
}

}  // namespace dpd::resources
