#include "script/engine.h"

#include <gtest/gtest.h>

#include <optional>

namespace dpd::script {
namespace {

const std::vector<std::string> kNames = {"me",        "isMe",    "query",  "cancel",   "cancelIf", "cancelUnless",
                                         "emit",      "console", "data",   "previous", "changed",  "protect",
                                         "unprotect", "hide",    "unhide", "error",    "errorIf",  "errorUnless",
                                         "hasErrors", "require", "process"};

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

// A call that only keeps or changes `this` reports it compactly ("=" or "O" + JSON, prelude.js.h); what comes back
// must be what the script left, whatever the text (non-ASCII, Latin-1 only, nested).
TEST(EngineTest, CompactReportsKeepOrCarryThis) {
  const json::object doc{{"title", "caf\u00e9 \u2713 \U0001F600"},
                         {"n", 1.5},
                         {"k", 7},
                         {"nested", json::object{{"a", json::array{1, "x", nullptr}}}}};
  auto kept = RunScript("if (this.title.length < 0) cancel('x');", doc);
  ASSERT_EQ(kept.kind, Outcome::Kind::kOk) << kept.message;
  EXPECT_EQ(json::Write(kept.self), json::Write(doc));
  auto changed = RunScript("this.title += '!'; this.nested.a.push(2); delete this.k;", doc);
  ASSERT_EQ(changed.kind, Outcome::Kind::kOk) << changed.message;
  EXPECT_EQ(changed.self.at("title").as_string(), "caf\u00e9 \u2713 \U0001F600!");
  EXPECT_EQ(json::Write(changed.self.at("nested")), R"({"a":[1,"x",null,2]})");
  EXPECT_FALSE(changed.self.contains("k"));
  auto latin1 = RunScript("this.e = 'caf\\u00e9';");  // a one-byte V8 string that is not ASCII
  ASSERT_EQ(latin1.kind, Outcome::Kind::kOk) << latin1.message;
  EXPECT_EQ(latin1.self.at("e").as_string(), "caf\u00e9");
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

Outcome RunEach(const Program& program, Invocation inv, const std::string& docs, bool single) {
  inv.documents_json = &docs;
  inv.single = single;
  return Runtime::ForThisThread().Run(program, kNames, std::move(inv));
}

TEST(EngineTest, EachRunsOncePerDocumentInOneCall) {
  Invocation inv;
  inv.allow_hide = inv.allow_errors = true;
  inv.values = {{"query", json::object{{"tag", "q"}}}};
  const Program get{"resources/t/get.js",
                    "if (this.drop) cancel('x'); hide('secret'); this.q = query.tag; data.n = 9;"};
  auto r = RunEach(get, inv, R"([{"a":1,"secret":"s","id":"1"},{"drop":true,"id":"2"},{"a":3,"id":"3"}])", false);
  ASSERT_EQ(r.kind, Outcome::Kind::kOk) << r.message;
  EXPECT_EQ(r.list_json, R"([{"a":1,"id":"1","q":"q"},{"a":3,"id":"3","q":"q"}])");
  auto single = RunEach(get, inv, R"([{"drop":true,"id":"2"}])", true);
  EXPECT_EQ(single.kind, Outcome::Kind::kCancelled);
  EXPECT_EQ(single.message, "x");
  auto error =
      RunEach({"resources/t/get.js", "if (this.id === '2') null.x;"}, inv, R"([{"id":"1"},{"id":"2"}])", false);
  EXPECT_EQ(error.kind, Outcome::Kind::kError);
}

// The host side of dpd calls, answered by hand: records each request and lets the test settle it.
struct FakeHost {
  std::vector<HostRequest> requests;
  std::vector<std::function<void(HostResponse)>> answers;
  std::optional<Outcome> completed;
  const std::vector<std::string> names = {"dpd", "cancel", "$addCallback", "$finishCallback", "error"};
  std::shared_ptr<const std::string> clients =
      std::make_shared<const std::string>(R"([{"key":"todos","path":"/todos","users":false}])");

  Invocation Make() {
    Invocation inv;
    inv.allow_errors = true;
    inv.clients_json = clients;
    inv.request = [this](HostRequest r, std::function<void(HostResponse)> done) {
      requests.push_back(std::move(r));
      answers.push_back(std::move(done));
    };
    inv.on_complete = [this](Outcome o) { completed = std::move(o); };
    return inv;
  }
  Outcome Run(const std::string& source) {
    return Runtime::ForThisThread().Run({"resources/t/post.js", source}, names, Make());
  }
  void Answer(std::size_t i, bool ok, const std::string& body) { answers.at(i)(HostResponse{ok, body}); }
};

TEST(EngineTest, CallbacksHoldTheEventOpenAndSeeThis) {
  FakeHost host;
  auto out = host.Run(
      "dpd.todos.get({done: true}, function (result, err) { this.got = result.length; this.err = err; });"
      "dpd.todos.get('abc', function (result, err) { this.missing = err.message; });");
  ASSERT_EQ(out.kind, Outcome::Kind::kPending) << out.message;
  ASSERT_EQ(host.requests.size(), 2u);
  EXPECT_EQ(host.requests[0].method, "GET");
  EXPECT_EQ(host.requests[0].path, "/todos");
  EXPECT_EQ(json::Write(host.requests[0].query), R"({"done":true})");
  EXPECT_EQ(host.requests[1].path, "/todos/abc");
  host.Answer(0, true, R"([{"id":"1"},{"id":"2"}])");
  EXPECT_FALSE(host.completed);  // one callback still outstanding
  host.Answer(1, false, R"({"message":"not found","status":404})");
  ASSERT_TRUE(host.completed);
  EXPECT_EQ(host.completed->kind, Outcome::Kind::kOk) << host.completed->message;
  EXPECT_EQ(json::Write(host.completed->self), R"({"got":2,"missing":"not found"})");  // fn(result): no err
  EXPECT_EQ(Runtime::ForThisThread().pending_calls(), 0u);
}

TEST(EngineTest, PromiseChainErrorsAreRecordedAndCleared) {
  // spec §6.8: the chain of Deployd's test app.
  FakeHost host;
  auto out = host.Run(
      "dpd.todos.get().then(function () { return 1; })"
      ".catch(function () { this.shouldNotBeSet1 = true; })"
      ".catch(function () { this.shouldNotBeSet2 = true; })"
      ".then(() => { throw 'test'; })"
      ".catch((e) => { this.seenError = e; })"
      ".finally(() => { this.seenFinally = true; });");
  ASSERT_EQ(out.kind, Outcome::Kind::kPending);
  host.Answer(0, true, "[]");
  ASSERT_TRUE(host.completed);
  ASSERT_EQ(host.completed->kind, Outcome::Kind::kOk) << host.completed->message;
  EXPECT_EQ(json::Write(host.completed->self), R"({"seenError":"test","seenFinally":true})");

  FakeHost unhandled;
  unhandled.Run("dpd.todos.get().then(function () { throw new Error('late'); });");
  unhandled.Answer(0, true, "[]");
  ASSERT_TRUE(unhandled.completed);
  EXPECT_EQ(unhandled.completed->kind, Outcome::Kind::kError);
  EXPECT_EQ(unhandled.completed->message, "late");
}

TEST(EngineTest, ThrowOrCancelInACallbackFailsTheEvent) {
  FakeHost thrown;
  thrown.Run("dpd.todos.get(function () { throw 'boom'; });");
  thrown.Answer(0, true, "[]");
  ASSERT_TRUE(thrown.completed);
  EXPECT_EQ(thrown.completed->kind, Outcome::Kind::kError);
  EXPECT_EQ(thrown.completed->message, "boom");

  FakeHost cancelled;
  cancelled.Run("dpd.todos.get(function () { cancel('no', 403); });");
  cancelled.Answer(0, true, "[]");
  ASSERT_TRUE(cancelled.completed);
  EXPECT_EQ(cancelled.completed->kind, Outcome::Kind::kCancelled);
  EXPECT_EQ(cancelled.completed->status, 403);
}

TEST(EngineTest, ArgumentFormsOfTheClient) {
  FakeHost host;
  host.Run(
      "dpd.todos.get(27); dpd.todos.get('a', 'b', {x: 1}, function () {});"
      "dpd.todos.post({title: 't'}); dpd.todos.put('id1', {q: 1}, {title: 'u'});"
      "dpd.todos.del({id: 'z'}); dpd.todos.exec('rename', {to: 'x'});");
  ASSERT_EQ(host.requests.size(), 6u);
  EXPECT_EQ(host.requests[0].path, "/todos/27");
  EXPECT_EQ(host.requests[1].path, "/todos/a/b");
  EXPECT_EQ(json::Write(host.requests[1].query), R"({"x":1})");
  EXPECT_EQ(host.requests[2].method, "POST");
  EXPECT_EQ(json::Write(host.requests[2].body), R"({"title":"t"})");
  EXPECT_EQ(host.requests[3].path, "/todos/id1");
  EXPECT_EQ(json::Write(host.requests[3].query), R"({"q":1})");
  EXPECT_EQ(json::Write(host.requests[3].body), R"({"title":"u"})");
  EXPECT_EQ(host.requests[4].method, "DELETE");
  EXPECT_EQ(host.requests[5].path, "/todos/rename");
  EXPECT_EQ(json::Write(host.requests[5].body), R"({"to":"x"})");
  for (std::size_t i = 0; i < 6; ++i) host.Answer(i, true, "");
  ASSERT_TRUE(host.completed);
  EXPECT_EQ(host.completed->kind, Outcome::Kind::kOk);
}

TEST(EngineTest, ManualCallbacksAndAbandon) {
  FakeHost host;
  auto out = host.Run("$addCallback(); dpd.todos.get(function () { $finishCallback(); this.done = 1; });");
  ASSERT_EQ(out.kind, Outcome::Kind::kPending);
  host.Answer(0, true, "[]");
  ASSERT_TRUE(host.completed);
  EXPECT_EQ(json::Write(host.completed->self), R"({"done":1})");

  FakeHost stuck;
  auto s = stuck.Run("$addCallback();");
  ASSERT_EQ(s.kind, Outcome::Kind::kPending);
  Runtime::ForThisThread().Abandon(s.call_id);
  EXPECT_EQ(Runtime::ForThisThread().pending_calls(), 0u);
  EXPECT_FALSE(stuck.completed);
}

TEST(EngineTest, ALoopingCallbackIsStopped) {
  FakeHost host;
  host.Run("dpd.todos.get(function () { while (true) {} });");
  host.Answer(0, true, "[]");
  ASSERT_TRUE(host.completed);
  EXPECT_EQ(host.completed->kind, Outcome::Kind::kTimeout);
  auto next = RunScript("this.ok = 1");
  EXPECT_EQ(next.kind, Outcome::Kind::kOk) << next.message;
}

TEST(EngineTest, CompiledOncePerSource) {
  auto& rt = Runtime::ForThisThread();
  auto misses = rt.cache_misses();
  for (int i = 0; i < 5; ++i) RunScript("this.n = 1; // cache test");
  EXPECT_EQ(rt.cache_misses(), misses + 1);
}

TEST(EngineTest, AnEditedFileLeavesNoDeadVersionInTheCache) {
  auto& rt = Runtime::ForThisThread();
  auto run = [&](const std::string& file, const std::string& source) {
    return rt.Run({file, source}, kNames, Invocation{});
  };
  run("resources/edit/get.js", "this.v = 0;");
  run("resources/other/get.js", "this.w = 1;");
  const std::size_t entries = CompileCacheFigures().entries;
  for (int v = 1; v <= 20; ++v) run("resources/edit/get.js", "this.v = " + std::to_string(v) + ";");
  EXPECT_EQ(CompileCacheFigures().entries, entries);  // one version of each file, however often it changed
  const auto misses = rt.cache_misses();
  run("resources/other/get.js", "this.w = 1;");  // the other file kept its entry
  EXPECT_EQ(rt.cache_misses(), misses);
}

}  // namespace
}  // namespace dpd::script
