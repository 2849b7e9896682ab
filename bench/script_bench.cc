// Event script invocation cost (PERFORMANCE.md: ≤ 5 µs overhead per call), with Google Benchmark:
// a get.js-like body run through script::Runtime with a small `this`.
#include <benchmark/benchmark.h>

#include "script/engine.h"

namespace {

const std::vector<std::string> kNames = {"me", "query", "cancel", "hide", "emit", "console", "data"};

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
  dpd::json::object doc{{"title", "todo 1"}, {"done", false}, {"score", 512}, {"owner", "u1"},
                        {"id", "0123456789abcdef"}};
  for (auto _ : state) {
    dpd::script::Invocation inv;
    inv.self = doc;
    inv.allow_hide = true;
    auto out = rt.Run(p, kNames, std::move(inv));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_GetEvent);

}  // namespace

BENCHMARK_MAIN();
