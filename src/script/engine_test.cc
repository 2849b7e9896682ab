#include "script/engine.h"

#include <gtest/gtest.h>

namespace dpd::script {
namespace {

const std::vector<std::string> kNames = {"me",       "isMe",       "query",    "cancel",      "cancelIf",
                                         "cancelUnless", "emit",   "console",  "data",        "previous",
                                         "changed",  "protect",    "unprotect", "hide",       "unhide",
                                         "error",    "errorIf",    "errorUnless", "hasErrors", "require",
                                         "process"};

Outcome RunScript(const std::string& source, json::object self = {}, Invocation inv = {}) {
  inv.self = std::move(self);
  inv.allow_errors = inv.allow_hide = inv.allow_protect = true;
  return Runtime::ForThisThread().Run({"resources/t/post.js", source}, kNames, std::move(inv));
}

TEST(EngineTest, ThisIsLiveAndFresh) {
  auto out = RunScript("this.b = this.a + 1; this.c = query.x;", json::object{{"a", 1}},
                       Invocation{{}, {{"query", json::object{{"x", "q"}}}}});
  ASSERT_EQ(out.kind, Outcome::Kind::kOk) << out.message;
  EXPECT_EQ(json::Write(out.self), R"({"a":1,"b":2,"c":"q"})");
}

TEST(EngineTest, CancelForms) {
  auto a = RunScript("cancel('m')");
  EXPECT_EQ(a.kind, Outcome::Kind::kCancelled);
  EXPECT_EQ(a.message, "m");
  EXPECT_FALSE(a.status_given);
  auto b = RunScript("cancel('m', 401)");
  EXPECT_EQ(b.status, 401);
  EXPECT_TRUE(b.status_given);
  auto c = RunScript("cancel(new Error('e'))");
  EXPECT_EQ(c.message, "e");
  EXPECT_FALSE(c.status_given);
  auto d = RunScript("cancel({message: 'o', status: 404})");
  EXPECT_EQ(d.message, "o");
  EXPECT_EQ(d.status, 404);
  auto e = RunScript("cancelIf(false, 'no'); cancelUnless(true, 'no'); this.ran = true;");
  EXPECT_EQ(e.kind, Outcome::Kind::kOk);
  auto f = RunScript("throw 42");
  EXPECT_EQ(f.kind, Outcome::Kind::kCancelled);
  EXPECT_EQ(f.message, "42");
  auto g = RunScript("null.fail");
  EXPECT_EQ(g.kind, Outcome::Kind::kError);
  EXPECT_EQ(g.message, "Cannot read properties of null (reading 'fail')");
  auto h = RunScript("cancel({})");
  EXPECT_EQ(h.kind, Outcome::Kind::kCancelled);
}

TEST(EngineTest, ErrorsHideProtectChanged) {
  auto out = RunScript(
      "error('title', 'bad'); errorIf(true, 'x'); if (!hasErrors()) cancel('no');"
      "hide('secret'); protect('owner'); this.flag = changed('title');"
      "try { this.owner = 'other'; } catch (e) { this.caught = e.message; }",
      json::object{{"title", "new"}, {"secret", "s"}, {"owner", "me"}},
      Invocation{{}, {{"previous", json::object{{"title", "old"}, {"owner", "prev"}}}}});
  ASSERT_EQ(out.kind, Outcome::Kind::kOk) << out.message;
  EXPECT_EQ(json::Write(out.errors), R"({"title":"bad","x":true})");
  EXPECT_EQ(out.hidden, std::vector<std::string>{"secret"});
  EXPECT_EQ(out.protected_fields, std::vector<std::string>{"owner"});
  EXPECT_EQ(json::Write(out.self.at("flag")), "true");
  EXPECT_EQ(json::Write(out.self.at("caught")), "\"Cannot modify protected property 'owner'\"");
  EXPECT_EQ(json::Write(out.self.at("owner")), "\"prev\"");  // reads give the previous value
}

TEST(EngineTest, EmitAndConsoleReachTheHost) {
  std::vector<std::string> lines;
  json::array emitted;
  Invocation inv;
  inv.log = [&](std::string_view l) { lines.emplace_back(l); };
  inv.emit = [&](const json::array& args) { emitted = args; };
  auto out = RunScript("console.log('hi', {a: 1}); emit('todos:changed', this);", json::object{{"x", 1}}, inv);
  ASSERT_EQ(out.kind, Outcome::Kind::kOk) << out.message;
  EXPECT_EQ(lines, std::vector<std::string>{"hi {\"a\":1}"});
  EXPECT_EQ(json::Write(emitted), R"(["todos:changed",{"x":1}])");
}

TEST(EngineTest, NoRequireNoProcessNoLeakedGlobals) {
  auto a = RunScript("this.r = typeof require; this.p = typeof process; leaked = 5; Array.prototype.evil = 1;");
  ASSERT_EQ(a.kind, Outcome::Kind::kOk) << a.message;
  EXPECT_EQ(json::Write(a.self), R"({"r":"undefined","p":"undefined"})");
  auto b = RunScript("this.leaked = typeof leaked; this.evil = typeof [].evil;");
  EXPECT_EQ(json::Write(b.self), R"({"leaked":"undefined","evil":"undefined"})");
}

TEST(EngineTest, SyntaxErrorNamesFileAndLine) {
  auto out = RunScript("\n\nthis.x = ;");
  EXPECT_EQ(out.kind, Outcome::Kind::kError);
  EXPECT_EQ(out.message.rfind("resources/t/post.js:3: SyntaxError", 0), 0u) << out.message;
  EXPECT_FALSE(Runtime::ForThisThread().Check({"f.js", "}{"}, kNames).ok());
}

TEST(EngineTest, InfiniteLoopIsStoppedAndTheIsolateServesTheNextCall) {
  auto out = RunScript("while (true) {}");
  EXPECT_EQ(out.kind, Outcome::Kind::kTimeout);
  auto next = RunScript("this.ok = 1");
  EXPECT_EQ(next.kind, Outcome::Kind::kOk) << next.message;
}

TEST(EngineTest, MemoryHogIsStoppedAndTheIsolateReplaced) {
  auto out = RunScript("var a = []; while (true) a.push(new Array(1e6).fill(1));");
  EXPECT_EQ(out.kind, Outcome::Kind::kOutOfMemory) << out.message;
  auto next = RunScript("this.ok = 1");
  EXPECT_EQ(next.kind, Outcome::Kind::kOk) << next.message;
}

TEST(EngineTest, EachRunsOncePerDocumentInOneCall) {
  Invocation inv;
  inv.allow_hide = inv.allow_errors = true;
  inv.values = {{"query", json::object{{"tag", "q"}}}};
  auto& rt = Runtime::ForThisThread();
  const Program get{"resources/t/get.js", "if (this.drop) cancel('x'); hide('secret'); this.q = query.tag; data.n = 9;"};
  auto r = rt.RunEach(get, kNames, inv,
                      R"([{"a":1,"secret":"s","id":"1"},{"drop":true,"id":"2"},{"a":3,"id":"3"}])", false);
  ASSERT_EQ(r.failure.kind, Outcome::Kind::kOk) << r.failure.message;
  EXPECT_EQ(r.list_json, R"([{"a":1,"id":"1","q":"q"},{"a":3,"id":"3","q":"q"}])");
  auto single = rt.RunEach(get, kNames, inv, R"([{"drop":true,"id":"2"}])", true);
  EXPECT_EQ(single.failure.kind, Outcome::Kind::kCancelled);
  EXPECT_EQ(single.failure.message, "x");
  auto error = rt.RunEach({"resources/t/get.js", "if (this.id === '2') null.x;"}, kNames, inv,
                          R"([{"id":"1"},{"id":"2"}])", false);
  EXPECT_EQ(error.failure.kind, Outcome::Kind::kError);
}

TEST(EngineTest, CompiledOncePerSource) {
  auto& rt = Runtime::ForThisThread();
  auto misses = rt.cache_misses();
  for (int i = 0; i < 5; ++i) RunScript("this.n = 1; // cache test");
  EXPECT_EQ(rt.cache_misses(), misses + 1);
}

}  // namespace
}  // namespace dpd::script
