// One suite for every Store (ARCHITECTURE §4: both backends pass the same tests): SQLite always; MongoDB when
// DPD_TEST_MONGO_URL names a server (tests/e2e/mongo.test.mjs starts the CongoDB test double and runs this binary
// with it; the instance is skipped otherwise). What only one store has (SQLite's query plans and group commit,
// MongoDB's unreachable server) stays in that store's own test file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "query/matcher.h"
#include "query/parse.h"
#include "store/mongo/mongo_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store_testing.h"

namespace dpd::store {
namespace {

// True when the MongoDB server is the CongoDB test double (DPD_TEST_MONGO_DOUBLE set by the runner): it does not
// enforce unique indexes on insert, orders strings with localeCompare and differs on $mod of fractions.
bool MongoDouble() { return std::getenv("DPD_TEST_MONGO_DOUBLE") != nullptr; }

class StoreConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string test = name.substr(0, name.find('/'));
    collection_ = "t" + std::to_string(::getpid()) + "_" + test;
    if (GetParam() == "mongo") {
      const char* url = std::getenv("DPD_TEST_MONGO_URL");
      if (url == nullptr || !*url) GTEST_SKIP() << "DPD_TEST_MONGO_URL not set";
      auto s = mongo::MongoStore::Open({std::string(url)});
      ASSERT_TRUE(s.ok()) << s.status().message();
      store_ = std::move(*s);
      double_ = MongoDouble();
    } else {
      dir_ = std::filesystem::temp_directory_path() / ("dpd_store_" + collection_);
      std::filesystem::remove_all(dir_);
      auto s = sqlite::SqliteStore::Open({dir_ / "data" / "app.sqlite"});
      ASSERT_TRUE(s.ok()) << s.status().message();
      store_ = std::move(*s);
    }
    schema_ = testing::TestSchema();
    ASSERT_TRUE(store_->Prepare(testing::TestSpec(collection_)).ok());
  }
  void TearDown() override {
    if (store_) (void)Run(store_->Drop(collection_));
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  template <typename T>
  T Run(boost::asio::awaitable<T> aw) {
    return RunSync(std::move(aw));
  }
  query::Query Q(std::string_view text) {
    auto q = query::ParseQuery(json::Parse(text)->as_object(), schema_, QueryLimits{});
    EXPECT_TRUE(q.ok()) << q.status().message();
    return std::move(*q);
  }
  std::vector<std::string> Ids(std::string_view text) {
    auto r = Run(store_->Find(collection_, Q(text), 1000));
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::vector<std::string> ids;
    if (r.ok())
      for (auto& d : *r) ids.push_back(d.id);
    return ids;
  }
  Status Insert(std::string id, std::string_view fields) {
    return Run(store_->Insert(collection_, Document{std::move(id), json::Parse(fields)->as_object()}));
  }

  std::unique_ptr<Store> store_;
  bool double_ = false;
  std::filesystem::path dir_;
  std::string collection_;
  query::Schema schema_;
};

TEST_P(StoreConformanceTest, CrudRoundTrip) {
  Document d{"0123456789abcdef", json::Parse(R"({"title":"a","score":2,"tags":["x"],"people":{"n":1}})")->as_object()};
  ASSERT_TRUE(Run(store_->Insert(collection_, d)).ok());
  auto found = Run(store_->Find(collection_, Q(R"({"id":"0123456789abcdef"})"), 10));
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "0123456789abcdef");
  EXPECT_EQ(json::Write((*found)[0].fields), R"({"title":"a","score":2,"tags":["x"],"people":{"n":1}})")
      << "fields in their order, Deployd's format";
  auto text = Run(store_->FindJson(collection_, Q("{}"), 10));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ((*text)[0], R"({"title":"a","score":2,"tags":["x"],"people":{"n":1},"id":"0123456789abcdef"})");
  d.fields["score"] = 3.5;
  EXPECT_TRUE(Run(store_->Replace(collection_, d)).ok());
  EXPECT_EQ(Run(store_->Count(collection_, Q(R"({"score":3.5})").filter)).value(), 1);
  Document missing{"ffffffffffffffff", {}};
  EXPECT_EQ(Run(store_->Replace(collection_, missing)).code(), Code::kNotFound);
  EXPECT_EQ(Run(store_->Remove(collection_, {"0123456789abcdef", "nope"})).value(), 1);
  EXPECT_EQ(Run(store_->Count(collection_, query::Filter{})).value(), 0);
}

TEST_P(StoreConformanceTest, UpdatesApplyAPatchAtomically) {
  ASSERT_TRUE(Insert("u1", R"({"title":"t","score":1,"tags":["a"]})").ok());
  Patch patch;
  patch.set["title"] = "u";
  patch.unset.push_back("tags");
  patch.commands.push_back({"score", "$inc", json::value(2)});
  auto updated = Run(store_->Update(collection_, "u1", patch));
  ASSERT_TRUE(updated.ok()) << updated.status().message();
  auto found = Run(store_->Find(collection_, Q(R"({"id":"u1"})"), 1));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(json::Write((*found)[0].fields.at("title")), "\"u\"");
  EXPECT_EQ((*found)[0].fields.at("score").to_number<double>(), 3);
  EXPECT_FALSE((*found)[0].fields.contains("tags"));
  auto none = Run(store_->Update(collection_, "nope", patch));
  EXPECT_EQ(none.status().code(), Code::kNotFound);
}

// An access rule's guard (docs/rules.md) is checked inside the write, on the document as the write finds it and
// as the patch leaves it; a refused write changes nothing.
TEST_P(StoreConformanceTest, GuardedWritesCheckTheDocumentAsItIsNow) {
  ASSERT_TRUE(Insert("g1", R"({"title":"a","score":1})").ok());
  ASSERT_TRUE(Insert("g2", R"({"title":"b","score":1})").ok());
  const query::Query owned_by_a = Q(R"({"title":"a"})");
  Patch keep;  // stays within the guard
  keep.commands.push_back({"score", "$inc", json::value(1)});
  keep.guard = &owned_by_a.filter;
  EXPECT_TRUE(Run(store_->Update(collection_, "g1", keep)).ok());
  Patch move_out;  // would leave it
  move_out.set["title"] = "b";
  move_out.guard = &owned_by_a.filter;
  EXPECT_EQ(Run(store_->Update(collection_, "g1", move_out)).status().code(), Code::kForbidden);
  EXPECT_EQ(Run(store_->Update(collection_, "g2", keep)).status().code(), Code::kForbidden)
      << "a document outside the guard as it is now";
  EXPECT_EQ(Ids(R"({"title":"a","score":2})"), std::vector<std::string>{"g1"});
  EXPECT_EQ(Ids(R"({"title":"b","score":1})"), std::vector<std::string>{"g2"});
  auto removed = Run(store_->RemoveWhere(collection_, {"g1", "g2", "nope"}, owned_by_a.filter));
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(Ids("{}"), std::vector<std::string>{"g2"});
}

TEST_P(StoreConformanceTest, InsertManyIsAllOrNothing) {
  std::vector<Document> docs;
  for (int i = 0; i < 3; ++i)
    docs.push_back({"m" + std::to_string(i), json::object{{"title", "t" + std::to_string(i)}, {"score", 7}}});
  ASSERT_TRUE(Run(store_->InsertMany(collection_, docs, nullptr)).ok());
  EXPECT_EQ(Ids(R"({"score":7})").size(), 3u);
  // The second has the id of a stored document (and the title of the first: either refuses it).
  std::vector<Document> clash{{"n0", json::object{{"title", "u"}, {"score", 8}}},
                              {"m1", json::object{{"title", "u"}, {"score", 8}}}};
  std::size_t failed = 99;
  Status s = Run(store_->InsertMany(collection_, clash, &failed));
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(failed, 1u);
  EXPECT_TRUE(Ids(R"({"score":8})").empty()) << "the document before the failing one was not kept";
}

TEST_P(StoreConformanceTest, RenameMovesEveryDocument) {
  ASSERT_TRUE(Insert("r1", R"({"title":"one"})").ok());
  ASSERT_TRUE(Insert("r2", R"({"title":"two"})").ok());
  const std::string moved = collection_ + "_moved";
  ASSERT_TRUE(Run(store_->Rename(collection_, moved)).ok());
  EXPECT_EQ(Run(store_->Count(moved, query::Filter{})).value(), 2);
  EXPECT_EQ(Run(store_->Count(collection_, query::Filter{})).value(), 0);
  auto found = Run(store_->Find(moved, Q(R"({"id":"r2"})"), 10));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(json::Write((*found)[0].fields), R"({"title":"two"})");
  EXPECT_TRUE(Run(store_->Rename("never_" + collection_, collection_ + "_x")).ok()) << "nothing to move";
  (void)Run(store_->Drop(moved));
}

TEST_P(StoreConformanceTest, UniqueViolationNamesTheProperty) {
  if (double_) GTEST_SKIP() << "CongoDB 2.2.0 does not enforce unique indexes on insert";
  ASSERT_TRUE(Insert("a1", R"({"title":"same"})").ok());
  Status s = Insert("a2", R"({"title":"same"})");
  EXPECT_EQ(s.code(), Code::kBadRequest);
  ASSERT_EQ(s.fields().size(), 1u);
  EXPECT_EQ(s.fields()[0].field, "title");
  EXPECT_EQ(s.fields()[0].message, "is already in use");
  Status dup_id = Insert("a1", R"({"title":"other"})");
  ASSERT_EQ(dup_id.fields().size(), 1u);
  EXPECT_EQ(dup_id.fields()[0].field, "id");
  EXPECT_EQ(Ids("{}").size(), 1u) << "the refused writes wrote nothing";
}

TEST_P(StoreConformanceTest, MissingCollectionIsEmpty) {
  auto r = Run(store_->Find("nothing_" + collection_, Q("{}"), 1000));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(Run(store_->Count("nothing_" + collection_, query::Filter{})).value(), 0);
}

// Values stay values: SQL- or operator-looking text in a document or an equality is data, never code.
TEST_P(StoreConformanceTest, HostileValuesStayValues) {
  ASSERT_TRUE(Insert("a1", R"({"title":"x'); DROP TABLE todos; db.dropDatabase(); --","people":{"$ne":null}})").ok());
  ASSERT_TRUE(Insert("a2", R"({"title":"y","people":{"name":"m"}})").ok());
  EXPECT_EQ(Ids(R"({"title":"x'); DROP TABLE todos; db.dropDatabase(); --"})"), std::vector<std::string>{"a1"});
  EXPECT_EQ(Ids(R"({"title":{"$regex":"DROP"}})"), std::vector<std::string>{"a1"});
  query::Query q;
  q.filter.kind = query::Filter::Kind::kCondition;
  q.filter.condition.path = "people";
  q.filter.condition.op = query::Op::kEq;
  q.filter.condition.operand = json::object{{"$ne", nullptr}};  // equal to that object, not "not null"
  auto r = Run(store_->Find(collection_, q, 10));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, "a1");
}

// The same queries on the store and on the in-memory matcher give the same ids in the same order.
TEST_P(StoreConformanceTest, DifferentialAgainstMatcher) {
  const std::vector<json::object> docs = testing::DifferentialDocs();
  for (const auto& d : docs) {
    json::object fields = d;
    fields.stable_erase("id");
    ASSERT_TRUE(Run(store_->Insert(collection_, Document{std::string(d.at("id").as_string()), fields})).ok());
  }
  for (const std::string& text : testing::DifferentialQueries(!double_)) {
    query::Query q = Q(text);
    std::vector<json::object> expected;
    for (const auto& d : docs) {
      if (query::Matches(q.filter, d)) expected.push_back(d);
    }
    query::ApplyQueryOptions(q, 1000, expected);
    std::vector<std::string> want;
    for (auto& d : expected) want.emplace_back(d.at("id").as_string());
    auto got = Ids(text);
    if (q.sort.empty() && GetParam() == "mongo") {  // without a sort MongoDB's order is its own
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
    }
    EXPECT_EQ(got, want) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformanceTest, ::testing::Values("sqlite", "mongo"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace dpd::store
