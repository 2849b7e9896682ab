// Event script invocation cost (PERFORMANCE.md: ≤ 5 µs overhead per call), with Google Benchmark:
// a get.js-like body run through script::Runtime with a small `this`.
#include <benchmark/benchmark.h>

#include "script/engine.h"

namespace {

// The names ScriptEvents injects (spec §6.3–6.4).
const std::vector<std::string> kNames = {"me",      "isMe",   "query",    "ctx",          "session",        "internal",
                                         "isRoot",  "cancel", "cancelIf", "cancelUnless", "emit",           "dpd",
                                         "console", "data",   "previous", "changed",      "protect",        "unprotect",
                                         "hide",    "unhide", "error",    "errorIf",      "errorUnless",    "hasErrors",
                                         "method",  "event",  "success",  "$addCallback", "$finishCallback"};

void BM_EmptyScript(benchmark::State& state) {
  auto& rt = dpd::script::Runtime::ForThisThread();
  dpd::script::Program p{"bench/empty.js", ""};
  for (auto _ : state) {
    dpd::script::Invocation inv;
    auto out = rt.Run(p, kNames, std::move(inv));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_EmptyScript);

void BM_GetEvent(benchmark::State& state) {
  auto& rt = dpd::script::Runtime::ForThisThread();
  dpd::script::Program p{"bench/get.js", "if (!me || me.id !== this.owner) hide('owner');"};
  dpd::json::object doc{
      {"title", "todo 1"}, {"done", false}, {"score", 512}, {"owner", "u1"}, {"id", "0123456789abcdef"}};
  for (auto _ : state) {
    dpd::script::Invocation inv;
    inv.self = doc;
    inv.allow_hide = true;
    inv.allow_errors = true;
    // what ScriptEvents injects for a by-id GET (the engine serialises only what the script mentions)
    inv.values.emplace_back("query", dpd::json::object{{"id", "0123456789abcdef"}});
    inv.values.emplace_back("isRoot", false);
    inv.values.emplace_back("ctx", dpd::json::object{{"method", "GET"}, {"url", "/0123456789abcdef"}});
    inv.values.emplace_back("data", doc);
    auto out = rt.Run(p, kNames, std::move(inv));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_GetEvent);

// The Get event for GET /todos/<id> (W1): each-mode over one document, as Collection::Get runs it.
void BM_GetById(benchmark::State& state) {
  auto& rt = dpd::script::Runtime::ForThisThread();
  dpd::script::Program p{"bench/get.js", "if (!me || me.id !== this.owner) hide('owner');"};
  const std::string docs = R"([{"title":"todo 1","done":false,"score":512,"owner":"u1","id":"0123456789abcdef"}])";
  for (auto _ : state) {
    dpd::script::Invocation inv;
    inv.documents_json = &docs;
    inv.single = true;
    inv.allow_errors = inv.allow_hide = true;
    inv.values.emplace_back("isRoot", false);
    auto out = rt.Run(p, kNames, std::move(inv));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_GetById);

// The Get event over a 10-document list in one call (what GET /todos does).
void BM_GetEventList10(benchmark::State& state) {
  auto& rt = dpd::script::Runtime::ForThisThread();
  dpd::script::Program p{"bench/get.js", "if (!me || me.id !== this.owner) hide('owner');"};
  std::string docs = "[";
  for (int i = 0; i < 10; ++i) {
    if (i) docs += ",";
    docs +=
        R"({"title":"todo 1","done":false,"score":512,"owner":"u1","id":"0123456789abcde)" + std::to_string(i) + "\"}";
  }
  docs += "]";
  for (auto _ : state) {
    dpd::script::Invocation inv;
    inv.documents_json = &docs;
    inv.allow_hide = true;
    inv.values.emplace_back("query", dpd::json::object{});
    inv.values.emplace_back("ctx", dpd::json::object{{"method", "GET"}, {"url", "/"}});
    auto out = rt.Run(p, kNames, std::move(inv));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_GetEventList10);

}  // namespace

BENCHMARK_MAIN();
