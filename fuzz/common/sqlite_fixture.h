#pragma once
// The differential store targets' fixture (fuzz_sql, fuzz_aggregate): a real SQLite file in a fresh temporary folder
// holding the store conformance suite's 120 documents (mixed types, missing fields) in one collection, made once per
// process.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fuzz_util.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store_testing.h"

namespace dpd::fuzz {

struct SqliteFixture {
  static constexpr std::string_view kCollection = "things";
  std::unique_ptr<store::sqlite::SqliteStore> store;
  std::vector<json::object> docs = store::testing::DifferentialDocs();
  query::Schema schema = store::testing::TestSchema();
};

inline SqliteFixture& GetSqliteFixture() {
  static SqliteFixture* f = [] {
    auto* fx = new SqliteFixture;
    char tmpl[] = "/tmp/dpd-fuzz-store-XXXXXX";
    const std::filesystem::path dir = ::mkdtemp(tmpl);
    store::sqlite::SqliteOptions options;
    options.file = dir / "fuzz.sqlite";
    options.synchronous_full = false;
    auto opened = store::sqlite::SqliteStore::Open(options);
    if (!opened.ok()) Fail();
    fx->store = std::move(*opened);
    if (!fx->store->Prepare(store::testing::TestSpec(std::string(SqliteFixture::kCollection))).ok()) Fail();
    for (const auto& d : fx->docs) {
      json::object fields = d;
      fields.erase("id");
      store::Document doc{std::string(d.at("id").as_string()), fields};
      if (!store::RunSync(fx->store->Insert(SqliteFixture::kCollection, doc)).ok()) Fail();
    }
    return fx;
  }();
  return *f;
}

}  // namespace dpd::fuzz
