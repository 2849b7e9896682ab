#include "resources/script_events.h"

#include "base/log.h"
#include "script/engine.h"

namespace dpd::resources {
namespace {

const char* FileOf(Event e) {
  switch (e) {
    case Event::kBeforeRequest: return "beforerequest.js";
    case Event::kValidate: return "validate.js";
    case Event::kPost: return "post.js";
    case Event::kPut: return "put.js";
    case Event::kGet: return "get.js";
    case Event::kDelete: return "delete.js";
    case Event::kAfterCommit: return "aftercommit.js";
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

}  // namespace

ScriptEvents::ScriptEvents(std::string resource, std::map<std::string, std::string> scripts,
                           const ScriptLimits& limits)
    : resource_(std::move(resource)), scripts_(std::move(scripts)), limits_(limits) {}

bool ScriptEvents::Has(Event event) const { return scripts_.count(FileOf(event)) > 0; }

std::vector<std::string> ScriptEvents::Warm() const {
  std::vector<std::string> problems;
  for (const auto& [file, source] : scripts_) {
    Status s = script::Runtime::ForThisThread(limits_).Check({"resources/" + resource_ + "/" + file, source},
                                                      ParameterNames());
    if (!s.ok()) problems.push_back(s.message());
  }
  return problems;
}

namespace {

// Maps what a script did to the collection's terms (spec §6.6).
void MapFailure(const script::Outcome& out, const std::string& file, EventOutcome& result) {
  switch (out.kind) {
    case script::Outcome::Kind::kOk:
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

}  // namespace

boost::asio::awaitable<Result<std::string>> ScriptEvents::RunGetList(Context& ctx, const std::string& documents_json,
                                                                     bool single, EventOutcome& failure) {
  auto it = scripts_.find(FileOf(Event::kGet));
  if (it == scripts_.end()) co_return Status::Internal("no get.js");
  const std::string file = "resources/" + resource_ + "/" + it->first;
  script::Invocation inv;
  inv.allow_errors = inv.allow_hide = true;
  inv.values.emplace_back("query", ctx.query);
  inv.values.emplace_back("isRoot", ctx.is_root);
  inv.values.emplace_back("ctx", json::object{{"method", ctx.method}, {"url", ctx.url},
                                              {"req", json::object{{"method", ctx.method}, {"isRoot", ctx.is_root}}}});
  inv.log = [&file](std::string_view line) { spdlog::info("script file={} console=\"{}\"", file, line); };
  inv.emit = [&file](const json::array& args) { spdlog::debug("script file={} emit={}", file, json::Write(args)); };
  auto out = script::Runtime::ForThisThread(limits_).RunEach({file, it->second}, ParameterNames(), std::move(inv),
                                                      documents_json, single);
  if (out.failure.kind != script::Outcome::Kind::kOk) {
    MapFailure(out.failure, file, failure);
    co_return failure.status;
  }
  co_return std::move(out.list_json);
}

boost::asio::awaitable<EventOutcome> ScriptEvents::Run(const EventCall& call) {
  EventOutcome result;
  auto it = scripts_.find(FileOf(call.event));
  if (it == scripts_.end()) co_return result;
  const std::string file = "resources/" + resource_ + "/" + it->first;

  script::Invocation inv;
  if (call.data) inv.self = *call.data;
  const bool per_document = call.event == Event::kGet || call.event == Event::kDelete;
  const bool writing = call.event == Event::kValidate || call.event == Event::kPost || call.event == Event::kPut;
  inv.allow_errors = per_document || writing;
  inv.allow_hide = per_document || writing;
  inv.allow_protect = writing;
  const bool root = call.ctx && call.ctx->is_root;
  json::object query = call.query ? *call.query : json::object();
  inv.values.emplace_back("query", query);
  inv.values.emplace_back("isRoot", root);
  json::object req{{"method", call.method}, {"isRoot", root}};
  json::object ctx{{"method", call.method}, {"req", std::move(req)}};
  if (call.ctx) {
    ctx["url"] = call.ctx->url;
    if (call.ctx->body) ctx["body"] = *call.ctx->body;
  }
  inv.values.emplace_back("ctx", std::move(ctx));
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
  inv.log = [&file](std::string_view line) { spdlog::info("script file={} console=\"{}\"", file, line); };
  // Realtime delivery arrives with the realtime issue; until then an emit is logged.
  inv.emit = [&file](const json::array& args) { spdlog::debug("script file={} emit={}", file, json::Write(args)); };

  script::Outcome out = script::Runtime::ForThisThread(limits_).Run({file, it->second}, ParameterNames(), std::move(inv));
  MapFailure(out, file, result);
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
