// Aggregation pipelines (docs/aggregate.md) → ParsePipeline → SQL, run on a real SQLite file over the store
// conformance suite's 120 documents. Besides "no crash, no hang, no sanitizer report": every refusal is a 4xx; every
// group has `_id` first and then each output in the pipeline's order; no more groups than the limit; and without
// $skip / $limit, the groups' {"$count": {}} outputs add up to the number of documents the in-memory matcher finds
// for the pipeline's $match (differential: each matching document lands in exactly one group).
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/fuzz_util.h"
#include "common/sqlite_fixture.h"
#include "query/aggregate.h"
#include "query/matcher.h"

namespace st = dpd::store;
using dpd::fuzz::SqliteFixture;
constexpr std::string_view kCollection = SqliteFixture::kCollection;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SqliteFixture& fx = dpd::fuzz::GetSqliteFixture();
  const dpd::JsonLimits limits = dpd::fuzz::SmallJsonLimits(24);
  auto raw = dpd::json::Parse(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (!raw.ok() || !raw->is_array()) return 0;
  dpd::QueryLimits ql = dpd::fuzz::SmallQueryLimits();
  ql.aggregate_groups = 50;  // small enough that the fuzzer reaches it
  dpd::query::ParseOptions options;
  options.forbidden_fields = {"password"};
  auto p = dpd::query::ParsePipeline(raw->as_array(), fx.schema, ql, options);
  if (!p.ok()) {
    if (!dpd::fuzz::IsClientError(p.status())) dpd::fuzz::Fail();
    return 0;
  }
  auto got = st::RunSync(fx.store->Aggregate(kCollection, *p));
  if (!got.ok()) {
    if (dpd::fuzz::IsClientError(got.status())) return 0;  // too many groups
    std::fprintf(stderr, "store error: %s\n", got.status().message().c_str());
    dpd::fuzz::Fail();
  }
  if (got->size() > p->max_groups) dpd::fuzz::Fail();
  int count_output = -1;
  for (std::size_t i = 0; i < p->outputs.size(); ++i) {
    if (p->outputs[i].kind == dpd::query::Accumulator::Kind::kCount) count_output = static_cast<int>(i);
  }
  std::int64_t counted = 0;
  for (const auto& g : *got) {
    const dpd::json::object* group = g.if_object();
    if (group == nullptr || group->size() != p->outputs.size() + 1 || group->begin()->key() != "_id") {
      std::fprintf(stderr, "malformed group %s\n", dpd::json::Write(g).c_str());
      dpd::fuzz::Fail();
    }
    std::size_t i = 0;
    for (auto it = group->begin() + 1; it != group->end(); ++it, ++i) {
      if (it->key() != p->outputs[i].name) dpd::fuzz::Fail();
    }
    if (count_output >= 0) {
      const dpd::json::value& c = (group->begin() + 1 + count_output)->value();
      if (!c.is_int64() || c.as_int64() <= 0) dpd::fuzz::Fail();
      counted += c.as_int64();
    }
  }
  if (count_output >= 0 && p->skip == 0 && p->limit < 0) {
    std::int64_t matching = 0;
    for (const auto& d : fx.docs) matching += dpd::query::Matches(p->match, d) ? 1 : 0;
    if (matching != counted) {
      std::fprintf(stderr, "matcher %lld documents, groups count %lld for %s\n", static_cast<long long>(matching),
                   static_cast<long long>(counted), dpd::json::Write(*raw).c_str());
      dpd::fuzz::Fail();
    }
  }
  return 0;
}
