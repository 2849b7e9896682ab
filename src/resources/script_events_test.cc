// ScriptEvents end to end inside one thread: emit() in the forms of spec §6.7 reaches the Emitter (hidden
// properties left out), and an event waits for its dpd calls, routed in-process through a Router.
#include "resources/script_events.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "resources/router.h"

namespace dpd::resources {
namespace {

class RecordingEmitter : public Emitter {
 public:
  void Emit(const EmitMessage& m, const boost::asio::any_io_executor&) override { messages.push_back(m); }
  std::vector<EmitMessage> messages;
};

// A resource that answers every GET with the query it received and whether the call was internal.
class Echo : public Resource {
 public:
  Echo(std::string name, std::string type) : Resource(std::move(name), std::move(type)) {
    TypeTraits t;
    t.client = t.users = true;  // offered to scripts as dpd.<name>, a user collection (emit's users form)
    set_traits(t);
  }
  boost::asio::awaitable<Reply> Handle(Context& ctx) override {
    co_return Reply::Json(json::object{{"query", ctx.query}, {"internal", ctx.internal}, {"url", ctx.url}});
  }
};

EventOutcome RunPost(ScriptEvents& events, json::object& data, Context& ctx) {
  boost::asio::io_context io;
  EventOutcome result;
  EventCall call;
  call.event = Event::kPost;
  call.method = "POST";
  call.data = &data;
  call.query = &ctx.query;
  call.ctx = &ctx;
  boost::asio::co_spawn(io, events.Run(call), [&](std::exception_ptr e, EventOutcome o) {
    if (e) std::rethrow_exception(e);
    result = std::move(o);
  });
  io.run();
  return result;
}

TEST(ScriptEventsTest, EmitFormsReachTheEmitter) {
  RecordingEmitter emitter;
  auto router = std::make_shared<const Router>(
      std::vector<std::shared_ptr<Resource>>{std::make_shared<Echo>("users", "UserCollection")}, nullptr);
  ScriptEvents events("todos",
                      {{"post.js",
                        "hide('secret');"
                        "emit('everyone');"
                        "emit('changed', this);"
                        "emit('room1', 'roomed', {n: 1});"
                        "emit(dpd.users, {admin: true}, 'users:ev', {m: 2});"
                        "emit(1, 2, 3, 4, 5);"}},
                      ScriptLimits{}, &emitter);
  json::object data{{"title", "t"}, {"secret", "s"}};
  Context ctx;
  ctx.router = router;
  EventOutcome out = RunPost(events, data, ctx);
  ASSERT_FALSE(out.cancelled()) << out.status.message();
  ASSERT_EQ(emitter.messages.size(), 4u);  // the five-argument call is not an emit form
  EXPECT_EQ(emitter.messages[0].target, EmitMessage::Target::kAll);
  EXPECT_EQ(emitter.messages[0].event, "everyone");
  EXPECT_TRUE(emitter.messages[0].data.is_null());
  EXPECT_EQ(json::Write(emitter.messages[1].data), R"({"title":"t"})") << "hidden properties are not emitted";
  EXPECT_EQ(emitter.messages[2].target, EmitMessage::Target::kRoom);
  EXPECT_EQ(emitter.messages[2].room, "room1");
  EXPECT_EQ(emitter.messages[2].event, "roomed");
  EXPECT_EQ(emitter.messages[3].target, EmitMessage::Target::kUsers);
  EXPECT_EQ(emitter.messages[3].users_path, "/users");
  EXPECT_EQ(json::Write(emitter.messages[3].users_query), R"({"admin":true})");
  EXPECT_EQ(emitter.messages[3].event, "users:ev");
  EXPECT_EQ(json::Write(data.at("secret")), "\"s\"") << "a hidden property is still written";
}

TEST(ScriptEventsTest, WaitsForInProcessCalls) {
  RecordingEmitter emitter;
  auto router = std::make_shared<const Router>(
      std::vector<std::shared_ptr<Resource>>{std::make_shared<Echo>("users", "UserCollection")}, nullptr);
  ScriptEvents events("todos", {{"post.js", "dpd.users.get({n: 1}, function (r) { this.echo = r; });"}}, ScriptLimits{},
                      &emitter);
  json::object data;
  Context ctx;
  ctx.router = router;
  EventOutcome out = RunPost(events, data, ctx);
  ASSERT_FALSE(out.cancelled()) << out.status.message();
  EXPECT_EQ(json::Write(data.at("echo")), R"({"query":{"n":1},"internal":true,"url":"/"})");
  ASSERT_TRUE(ctx.calls);
  EXPECT_EQ(ctx.calls->calls, 1u);
}

}  // namespace
}  // namespace dpd::resources
