#include "resources/script_events.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <optional>

#include "base/log.h"
#include "resources/internal_client.h"
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
    case Event::kForgot: return "forgot.js";
  }
  return "";
}

// Every name an event script can use (spec §6.3–6.4); the ones a given event does not provide are undefined.
// `require` and `process` are deliberately absent: using them is a ReferenceError.
const std::vector<std::string>& ParameterNames() {
  static const std::vector<std::string> names = {
      "me",       "isMe",         "query",   "ctx",          "session",        "internal", "isRoot",      "cancel",
      "cancelIf", "cancelUnless", "emit",    "dpd",          "console",        "data",     "previous",    "changed",
      "protect",  "unprotect",    "hide",    "unhide",       "error",          "errorIf",  "errorUnless", "hasErrors",
      "method",   "event",        "success", "token", "$addCallback", "$finishCallback"};
  return names;
}

// Maps what a script did to the collection's terms (spec §6.6).
void MapFailure(const script::Outcome& out, const std::string& file, EventOutcome& result) {
  switch (out.kind) {
    case script::Outcome::Kind::kOk:
    case script::Outcome::Kind::kPending: break;
    case script::Outcome::Kind::kCancelled:
    case script::Outcome::Kind::kError:
      result.status =
          Status::BadRequest(out.message)
              .WithHttpStatus(out.status_given && out.status >= 400 && out.status <= 599 ? out.status : 400);
      result.status_code_field = out.kind == script::Outcome::Kind::kCancelled && out.status_given;
      result.fatal = out.kind == script::Outcome::Kind::kError;
      break;
    case script::Outcome::Kind::kTimeout:
    case script::Outcome::Kind::kOutOfMemory:
      spdlog::error("script stopped file={} reason=\"{}\"", file, out.message);
      result.status = Status::Internal(out.message);
      result.fatal = true;
      break;
  }
}

// Names a script's failure in the request's trace (errors by kind in the metrics).
script::Outcome Classified(script::Outcome out, Trace* trace) {
  if (trace == nullptr) return out;
  switch (out.kind) {
    case script::Outcome::Kind::kTimeout: trace->error_kind = "script_timeout"; break;
    case script::Outcome::Kind::kOutOfMemory: trace->error_kind = "script_heap"; break;
    case script::Outcome::Kind::kError: trace->error_kind = "script_error"; break;
    default: break;
  }
  return out;
}

// Where a pending call's outcome lands. The timer is made only for a call that is still pending when its body
// returned (most calls never wait, and making a timer looks up Asio's timer service under a lock).
struct Waiter {
  std::optional<boost::asio::steady_timer> timer;
  std::optional<script::Outcome> outcome;
};

}  // namespace

ScriptEvents::ScriptEvents(std::string resource, std::map<std::string, std::string> scripts, const ScriptLimits& limits,
                           Emitter* emitter)
    : resource_(std::move(resource)), limits_(limits), emitter_(emitter) {
  scripts_ = Build(std::move(scripts));
  for (int e = 0; e <= static_cast<int>(Event::kForgot); ++e) {
    if (scripts_.count(FileOf(static_cast<Event>(e)))) present_ |= 1u << e;
  }
}

ScriptEvents::ScriptSet ScriptEvents::Build(std::map<std::string, std::string> scripts) const {
  ScriptSet set;
  for (auto& [name, source] : scripts) {
    Script s;
    s.file = "resources/" + resource_ + "/" + name;
    s.uses_dpd = source.find("dpd") != std::string::npos;
    s.uses_headers = source.find("headers") != std::string::npos;
    s.uses_session = source.find("session") != std::string::npos;
    s.uses_emit = source.find("emit") != std::string::npos;  // emit and session.emitTo…
    s.needs_query = script::NeedsValue(source, "query");
    s.needs_ctx = script::NeedsValue(source, "ctx");
    s.needs_me = script::NeedsValue(source, "me");
    s.needs_data = script::NeedsValue(source, "data");
    s.needs_previous = script::NeedsValue(source, "previous");
    s.source = std::move(source);
    set.emplace(name, std::move(s));
  }
  return set;
}

bool ScriptEvents::Has(Event event) const { return (present_ >> static_cast<int>(event)) & 1u; }

const ScriptEvents::Script* ScriptEvents::Find(const ScriptSet& set, Event event) {
  auto it = set.find(FileOf(event));
  return it == set.end() ? nullptr : &it->second;
}

Status CheckEventScript(const std::string& file, const std::string& source, const ScriptLimits& limits) {
  return script::Runtime::ForThisThread(limits).Check({file, source}, ParameterNames());
}

std::vector<std::string> ScriptEvents::Warm() const {
  std::vector<std::string> problems;
  for (const auto& [name, script] : scripts_) {
    Status s = script::Runtime::ForThisThread(limits_).Check({script.file, script.source}, ParameterNames());
    if (!s.ok()) problems.push_back(s.message());
  }
  return problems;
}

void ScriptEvents::AddCommon(const Script& script, const std::string& method, Context* ctx, script::Invocation& inv,
                             const json::object* query) const {
  const bool root = ctx && ctx->is_root;
  if (script.needs_query) inv.values.emplace_back("query", query ? *query : ctx ? ctx->query : json::object());
  inv.values.emplace_back("isRoot", root);
  if (ctx && ctx->internal) inv.values.emplace_back("internal", true);
  if (ctx && ctx->me && script.needs_me) inv.values.emplace_back("me", *ctx->me);
  if (ctx && script.uses_session) {
    json::object data;
    if (ctx->session) {
      data = ctx->session->ToFields();
      data["id"] = ctx->session->id;
    }
    json::object s{{"data", std::move(data)}, {"isRoot", root}};
    inv.values.emplace_back("session", std::move(s));
  }
  if (!script.needs_ctx) return;
  json::object req{{"method", method}, {"isRoot", root}};
  json::object c{{"method", method}};
  if (ctx) {
    req["url"] = ctx->url;
    c["url"] = ctx->url;
    if (ctx->body) c["body"] = *ctx->body;
    if (ctx->internal) req["internal"] = true;
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
  if (ctx) BeginCallTree(*ctx, limits_);
  if (ctx && ctx->router && script.uses_dpd) {
    inv.clients_json = ctx->router->clients_json();
    inv.request = MakeInternalClient(*ctx, limits_, executor);
  }
  const std::string& file = script.file;
  inv.log = [&file](std::string_view line) { spdlog::info("script file={} console=\"{}\"", file, line); };
  Emitter* emitter = emitter_;
  std::shared_ptr<CallTree> tree = ctx ? ctx->calls : nullptr;
  std::shared_ptr<const Router> router = ctx ? ctx->router : nullptr;
  if (script.uses_emit) {
    inv.emit = [emitter, file, executor, tree, router](const json::array& args) {
      EmitMessage message;
      if (ReadEmit(args, message)) {
        message.router = router;
        if (tree) tree->emitted = true;
        emitter->Emit(message, executor);
      } else {
        spdlog::warn("script file={} emit() with {} arguments ignored (spec §6.7 forms only)", file, args.size());
      }
    };
  }
  auto waiter = std::make_shared<Waiter>();
  inv.on_complete = [waiter](script::Outcome o) {
    waiter->outcome = std::move(o);
    if (waiter->timer) waiter->timer->cancel();
  };
  script::Runtime& runtime = script::Runtime::ForThisThread(limits_);
  Trace* trace = ctx ? ctx->trace.get() : nullptr;
  StageTimer timer(trace, &Trace::script);
  script::Outcome out = runtime.Run({script.file, script.source}, ParameterNames(), std::move(inv));
  timer.Stop();
  if (out.kind != script::Outcome::Kind::kPending) co_return Classified(std::move(out), trace);
  if (!waiter->outcome) {
    waiter->timer.emplace(executor, limits_.event_time);
    boost::system::error_code ec;
    co_await waiter->timer->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
  if (waiter->outcome) co_return Classified(std::move(*waiter->outcome), trace);
  script::Runtime::ForThisThread(limits_).Abandon(out.call_id);
  script::Outcome late;
  late.kind = script::Outcome::Kind::kTimeout;
  late.message = file + ": script did not finish within " + std::to_string(limits_.event_time.count()) +
                 " ms (dpd callbacks or $addCallback still pending)";
  co_return Classified(std::move(late), trace);
}

boost::asio::awaitable<Result<std::string>> ScriptEvents::RunGetList(Context& ctx, const std::string& documents_json,
                                                                     bool single, EventOutcome& failure) {
  const Script* script = Find(scripts_, Event::kGet);
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
  const Script* script = Find(scripts_, call.event);
  if (script == nullptr) co_return result;

  script::Invocation inv;
  if (call.data) inv.self = *call.data;
  const bool per_document = call.event == Event::kGet || call.event == Event::kDelete;
  const bool writing = call.event == Event::kValidate || call.event == Event::kPost || call.event == Event::kPut;
  inv.allow_errors = per_document || writing;
  inv.allow_hide = per_document || writing;
  inv.allow_protect = writing;
  AddCommon(*script, call.method, call.ctx, inv, call.query);  // call.query: the collection's live query
  const bool data = call.data && script->needs_data;
  if (data && call.event != Event::kBeforeRequest) inv.values.emplace_back("data", *call.data);
  if (call.event == Event::kBeforeRequest) {
    inv.values.emplace_back("event", call.method);
    if (data && (call.method == "POST" || call.method == "PUT")) inv.values.emplace_back("data", *call.data);
  }
  if (writing && script->needs_previous) {
    inv.values.emplace_back("previous", call.previous ? *call.previous : json::object());
  }
  if (call.event == Event::kAfterCommit) {
    inv.values.emplace_back("method", call.method);
    if (call.previous && script->needs_previous) inv.values.emplace_back("previous", *call.previous);
  }
  if (call.event == Event::kLogin) {
    // me and data: copies of the user (null when there is no such user); success: the credentials were right.
    json::value user = call.data && !call.data->empty() ? json::value(*call.data) : json::value(nullptr);
    if (script->needs_me) inv.values.emplace_back("me", user);  // later values win: this replaces the session's `me`
    if (script->needs_data) inv.values.emplace_back("data", std::move(user));
    inv.values.emplace_back("success", call.success);
  }
  if (call.event == Event::kForgot) {
    // this and data: the user without password; token: what the app sends the user (e-mail, emit, …).
    if (script->needs_data) inv.values.emplace_back("data", call.data ? json::value(*call.data) : json::value(nullptr));
    inv.values.emplace_back("token", json::string(call.token));
  }

  script::Outcome out = co_await Execute(*script, inv, call.ctx);
  if (out.session.is_object() && call.ctx) co_await ApplySessionChanges(out.session.as_object(), *call.ctx);
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
