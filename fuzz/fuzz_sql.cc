// Differential: every Deployd query that parses gets the same documents, in the same order, from the SQLite store
// (the AST → SQL builder, real SQLite, dpd's regexp function) as from the in-memory matcher. The documents are the
// store conformance suite's 120 (mixed types, missing fields).
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/fuzz_util.h"
#include "common/sqlite_fixture.h"
#include "query/matcher.h"
#include "query/parse.h"

namespace st = dpd::store;
using dpd::fuzz::SqliteFixture;
constexpr std::string_view kCollection = SqliteFixture::kCollection;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SqliteFixture& fx = dpd::fuzz::GetSqliteFixture();
  const dpd::JsonLimits limits = dpd::fuzz::SmallJsonLimits(24);
  auto raw = dpd::json::Parse(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (!raw.ok() || !raw->is_object()) return 0;
  const dpd::QueryLimits ql = dpd::fuzz::SmallQueryLimits();
  auto q = dpd::query::ParseQuery(raw->as_object(), fx.schema, ql);
  if (!q.ok()) {
    if (!dpd::fuzz::IsClientError(q.status())) dpd::fuzz::Fail();
    return 0;
  }
  std::vector<dpd::json::object> expected;
  for (const auto& d : fx.docs) {
    if (dpd::query::Matches(q->filter, d)) expected.push_back(d);
  }
  dpd::query::ApplyQueryOptions(*q, 1000, expected);
  auto got = st::RunSync(fx.store->Find(kCollection, *q, 1000));
  if (!got.ok()) {
    if (dpd::fuzz::IsClientError(got.status())) return 0;  // refused by the store (e.g. a regex SQLite rejects)
    std::fprintf(stderr, "store error: %s\n", got.status().message().c_str());
    dpd::fuzz::Fail();
  }
  std::vector<std::string> want, have;
  for (const auto& d : expected) want.emplace_back(d.at("id").as_string());
  for (const auto& d : *got) have.push_back(d.id);
  if (want != have) {
    std::fprintf(stderr, "matcher %zu ids, sqlite %zu ids for %s\n", want.size(), have.size(),
                 dpd::json::Write(*raw).c_str());
    dpd::fuzz::Fail();
  }
  return 0;
}
