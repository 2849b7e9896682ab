#include "resources/internal_client.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <optional>

#include "base/log.h"
#include "query/js.h"
#include "resources/router.h"

namespace dpd::resources {
namespace {

// What an in-process dpd call needs from its caller, copied so that it outlives the caller's event if need be.
struct Caller {
  std::shared_ptr<const Router> router;
  std::shared_ptr<Trace> trace;
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
  boost::asio::any_io_executor executor;
};

struct InternalJob {
  std::shared_ptr<Caller> caller;
  std::shared_ptr<const CallFrame> frame;
  script::HostRequest request;
  std::function<void(script::HostResponse)> done;
};

}  // namespace

script::HostResponse ToHostResponse(Reply& reply) {
  script::HostResponse out;
  switch (reply.kind) {
    case Reply::Kind::kError: {
      json::object body = reply.json.is_object() ? std::move(reply.json.as_object()) : json::object();
      body["status"] = reply.status;
      out.body_json = json::Write(body);
      return out;
    }
    case Reply::Kind::kJson: out.body_json = json::Write(reply.json); break;
    case Reply::Kind::kRawJson: out.body_json = std::move(reply.text); break;
    case Reply::Kind::kText: out.body_json = json::Write(json::value(json::string(reply.text))); break;
    case Reply::Kind::kBody:  // a module's own response: JSON when it is JSON, else the text
      out.body_json = json::Parse(reply.text).ok() ? std::move(reply.text)
                                                   : json::Write(json::value(json::string(reply.text)));
      break;
    case Reply::Kind::kStream:  // modules do not stream to in-process callers (node_host.js.h): never here
      out.ok = false;
      out.body_json = R"({"message":"Internal error","status":500})";
      return out;
    default: break;
  }
  out.ok = reply.status < 400;
  return out;
}

namespace {

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
    child.trace = job->caller->trace;
    child.session = job->caller->session;
    child.me = job->caller->me;
    child.sessions = job->caller->sessions;
    Reply reply = co_await job->caller->router->Dispatch(child);
    response = ToHostResponse(reply);
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

}  // namespace

void BeginCallTree(Context& ctx, const ScriptLimits& limits) {
  if (ctx.calls) return;
  ctx.calls = std::make_shared<CallTree>();
  ctx.calls->limit = RecursionLimit(ctx, limits.recursion_max);
}

Requester MakeInternalClient(Context& ctx, const ScriptLimits& limits, boost::asio::any_io_executor executor) {
  BeginCallTree(ctx, limits);
  auto caller = std::make_shared<Caller>();
  caller->router = ctx.router;
  caller->trace = ctx.trace;
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
      boost::asio::any_io_executor executor = job->caller->executor;
      boost::asio::co_spawn(executor, InternalCall(std::move(job)), LogOnFailure{"internal dpd call"});
    });
  };
}

boost::asio::awaitable<void> ApplySessionChanges(json::object& changes, Context& ctx) {
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
  if (s.ok())
    ctx.session = ptr;
  else
    spdlog::warn("session not saved: {}", s.message());
}

}  // namespace dpd::resources
