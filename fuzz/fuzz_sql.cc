// Differential: every Deployd query that parses gets the same documents, in the same order, from the SQLite store
// (the AST → SQL builder, real SQLite, dpd's regexp function) as from the in-memory matcher. The documents are the
// store conformance suite's 120 (mixed types, missing fields).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/fuzz_util.h"
#include "query/matcher.h"
#include "query/parse.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store_testing.h"

namespace st = dpd::store;

namespace {

constexpr std::string_view kCollection = "things";

struct Fixture {
  std::unique_ptr<st::sqlite::SqliteStore> store;
  std::vector<dpd::json::object> docs = st::testing::DifferentialDocs();
  dpd::query::Schema schema = st::testing::TestSchema();
};

Fixture& Get() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    char tmpl[] = "/tmp/dpd-fuzz-sql-XXXXXX";
    const std::filesystem::path dir = ::mkdtemp(tmpl);
    st::sqlite::SqliteOptions options;
    options.file = dir / "fuzz.sqlite";
    options.synchronous_full = false;
    auto opened = st::sqlite::SqliteStore::Open(options);
    if (!opened.ok()) dpd::fuzz::Fail();
    fx->store = std::move(*opened);
    if (!fx->store->Prepare(st::testing::TestSpec(std::string(kCollection))).ok()) dpd::fuzz::Fail();
    for (const auto& d : fx->docs) {
      dpd::json::object fields = d;
      fields.erase("id");
      st::Document doc{std::string(d.at("id").as_string()), fields};
      if (!st::RunSync(fx->store->Insert(kCollection, doc)).ok()) dpd::fuzz::Fail();
    }
    return fx;
  }();
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& fx = Get();
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
