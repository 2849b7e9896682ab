#include "resources/realtime_emitter.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include "base/log.h"
#include "resources/router.h"

namespace dpd::resources {
namespace {

struct UsersEmit {
  realtime::Bus* bus;
  EmitMessage message;
};

boost::asio::awaitable<void> EmitToUsers(std::shared_ptr<UsersEmit> job) {
  Context ctx;
  ctx.method = "GET";
  ctx.url = job->message.users_path;
  if (job->message.users_query.is_object()) ctx.query = job->message.users_query.as_object();
  ctx.is_root = true;
  ctx.internal = true;
  ctx.router = job->message.router;
  Reply reply = co_await job->message.router->Dispatch(ctx);
  json::value list;
  if (reply.kind == Reply::Kind::kJson) list = std::move(reply.json);
  if (reply.kind == Reply::Kind::kRawJson) {
    auto parsed = json::Parse(reply.text);
    if (parsed.ok()) list = std::move(*parsed);
  }
  if (!list.is_array()) {
    spdlog::warn("emit to users of {}: the query failed (status {})", job->message.users_path, reply.status);
    co_return;
  }
  std::vector<std::string> rooms;
  for (const auto& u : list.as_array()) {
    const json::value* id = u.is_object() ? u.as_object().if_contains("id") : nullptr;
    if (id && id->is_string()) rooms.push_back("dpd_uid:" + std::string(id->as_string()));
  }
  if (!rooms.empty()) job->bus->Publish(std::move(rooms), job->message.event, job->message.data);
}

}  // namespace

void RealtimeEmitter::Emit(const EmitMessage& m, const boost::asio::any_io_executor& executor) {
  switch (m.target) {
    case EmitMessage::Target::kAll: bus_->Publish({}, m.event, m.data); return;
    case EmitMessage::Target::kRoom: bus_->Publish({m.room}, m.event, m.data); return;
    case EmitMessage::Target::kUsers: {
      if (m.router == nullptr) return;
      auto job = std::make_shared<UsersEmit>();
      job->bus = bus_;
      job->message = m;
      // Posted, not spawned here: co_spawn starts inline (Boost 1.81), and the users' query — with the users' own
      // Get script — would run inside the script that called emit(), which V8 refuses as re-entrant.
      boost::asio::post(executor, [executor, job = std::move(job)]() mutable {
        boost::asio::co_spawn(executor, EmitToUsers(std::move(job)), LogOnFailure{"emit to users"});
      });
      return;
    }
  }
}

}  // namespace dpd::resources
