// The MongoDB store against a MongoDB wire-protocol server: DPD_TEST_MONGO_URL (tests/e2e/mongo.test.mjs starts
// CongoDB — a test double, see README — and runs this binary with it). Skipped without the variable.
// The differential test compares the store with the in-memory matcher on the same queries as the SQLite store's;
// On the test double, the queries it gets wrong (string sort order, $mod on fractions) are left out.
#include "store/mongo/mongo_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>

#include "query/matcher.h"
#include "query/parse.h"
#include "store/store_testing.h"

namespace dpd::store::mongo {
namespace {
namespace asio = boost::asio;

// True when the server is the CongoDB test double (DPD_TEST_MONGO_DOUBLE set by the runner).
bool TestDouble() { return std::getenv("DPD_TEST_MONGO_DOUBLE") != nullptr; }

class MongoStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("DPD_TEST_MONGO_URL");
    if (url == nullptr || !*url) GTEST_SKIP() << "DPD_TEST_MONGO_URL not set";
    auto s = MongoStore::Open({std::string(url)});
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    collection_ = "t" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    schema_ = *query::Schema::FromConfig(json::Parse(R"({"properties":{
      "title":{"type":"string","unique":true},"score":{"type":"number","index":true},"done":{"type":"boolean"},
      "tags":{"type":"array"},"people":{"type":"object"}}})")->as_object());
    ASSERT_TRUE(store_->Prepare({collection_, {{"title", true}, {"score", false}}}).ok());
  }
  void TearDown() override {
    if (store_) (void)Run(store_->Drop(collection_));
  }
  template <typename T>
  T Run(asio::awaitable<T> aw) { return store::testing::RunSync(std::move(aw)); }
  query::Query Q(std::string_view text) {
    auto q = query::ParseQuery(json::Parse(text)->as_object(), schema_, QueryLimits{});
    EXPECT_TRUE(q.ok()) << q.status().message();
    return std::move(*q);
  }
  std::vector<std::string> Ids(std::string_view text) {
    auto r = Run(store_->Find(collection_, Q(text), 1000));
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::vector<std::string> ids;
    if (r.ok()) for (auto& d : *r) ids.push_back(d.id);
    return ids;
  }
  std::unique_ptr<MongoStore> store_;
  std::string collection_;
  query::Schema schema_;
};

TEST_F(MongoStoreTest, CrudInDeploydsFormat) {
  Document d{"0123456789abcdef", json::Parse(R"({"title":"a","score":2,"tags":["x"],"people":{"n":1}})")->as_object()};
  ASSERT_TRUE(Run(store_->Insert(collection_, d)).ok());
  auto found = Run(store_->Find(collection_, Q(R"({"id":"0123456789abcdef"})"), 10));
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "0123456789abcdef");
  EXPECT_EQ(json::Write((*found)[0].fields), R"({"title":"a","score":2,"tags":["x"],"people":{"n":1}})");
  auto text = Run(store_->FindJson(collection_, Q("{}"), 10));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ((*text)[0], R"({"title":"a","score":2,"tags":["x"],"people":{"n":1},"id":"0123456789abcdef"})");
  d.fields["score"] = 3.5;
  EXPECT_TRUE(Run(store_->Replace(collection_, d)).ok());
  EXPECT_EQ(Run(store_->Count(collection_, Q(R"({"score":3.5})").filter)).value(), 1);
  Document missing{"ffffffffffffffff", {}};
  EXPECT_EQ(Run(store_->Replace(collection_, missing)).code(), Code::kNotFound);
  if (!TestDouble()) {  // CongoDB 2.2.0 does not enforce unique indexes on insert
    Document dup{"1111111111111111", json::object{{"title", "a"}}};
    Status s = Run(store_->Insert(collection_, dup));
    ASSERT_EQ(s.fields().size(), 1u) << "a unique index refuses like SQLite's";
    EXPECT_EQ(s.fields()[0].field, "title");
  }
  EXPECT_EQ(Run(store_->Remove(collection_, {"0123456789abcdef", "nope"})).value(), 1);
  EXPECT_EQ(Run(store_->Count(collection_, query::Filter{})).value(), 0);
}

TEST_F(MongoStoreTest, MissingCollectionIsEmpty) {
  auto r = Run(store_->Find("nothing_" + collection_, Q("{}"), 1000));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->empty());
}

// Values stay values: an operator-looking object in a document or an equality is data, never a query operator.
TEST_F(MongoStoreTest, HostileValuesStayValues) {
  Document odd{"a1", json::Parse(R"({"title":"x'); db.dropDatabase(); //","people":{"$ne":null}})")->as_object()};
  ASSERT_TRUE(Run(store_->Insert(collection_, odd)).ok());
  Document plain{"a2", json::object{{"title", "y"}, {"people", json::object{{"name", "m"}}}}};
  ASSERT_TRUE(Run(store_->Insert(collection_, plain)).ok());
  EXPECT_EQ(Ids(R"({"title":"x'); db.dropDatabase(); //"})"), std::vector<std::string>{"a1"});
  EXPECT_EQ(Ids(R"({"title":{"$regex":"drop"}})"), std::vector<std::string>{"a1"});
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

TEST_F(MongoStoreTest, DifferentialAgainstMatcher) {
  const std::vector<json::object> docs = store::testing::DifferentialDocs();
  for (const auto& d : docs) {
    json::object fields = d;
    fields.stable_erase("id");
    ASSERT_TRUE(Run(store_->Insert(collection_, Document{std::string(d.at("id").as_string()), fields})).ok());
  }
  // Real MongoDB answers all of them; CongoDB orders strings with localeCompare and differs on $mod.
  for (const std::string& text : store::testing::DifferentialQueries(!TestDouble())) {
    query::Query q = Q(text);
    std::vector<json::object> expected;
    for (const auto& d : docs) {
      if (query::Matches(q.filter, d)) expected.push_back(d);
    }
    query::ApplyQueryOptions(q, 1000, expected);
    std::vector<std::string> want;
    for (auto& d : expected) want.emplace_back(d.at("id").as_string());
    auto got = Ids(text);
    if (q.sort.empty()) {  // without a sort the order is the store's own
      std::sort(want.begin(), want.end());
      std::sort(got.begin(), got.end());
    }
    EXPECT_EQ(got, want) << text;
  }
}

TEST(MongoStoreDownTest, AnUnreachableServerIsUnavailableQuickly) {
  auto s = MongoStore::Open({"mongodb://127.0.0.1:1/dpd?serverSelectionTimeoutMS=300"});
  ASSERT_TRUE(s.ok());
  asio::io_context ioc;
  const query::Filter all;  // named: the coroutine reads it after this statement
  auto f = asio::co_spawn(ioc, (*s)->Count("x", all), asio::use_future);
  ioc.run();
  auto n = f.get();
  EXPECT_EQ(n.status().code(), Code::kUnavailable) << n.status().message();
}

}  // namespace
}  // namespace dpd::store::mongo
