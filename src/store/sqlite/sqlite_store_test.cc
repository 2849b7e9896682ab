#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <random>

#include "query/matcher.h"
#include "query/parse.h"

namespace dpd::store::sqlite {
namespace {
namespace asio = boost::asio;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dpd_store_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto s = SqliteStore::Open({dir_ / "data" / "app.sqlite"});
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    schema_ = *query::Schema::FromConfig(json::Parse(R"({"properties":{
      "title":{"type":"string","unique":true},"score":{"type":"number","index":true},"done":{"type":"boolean"},
      "tags":{"type":"array"},"people":{"type":"object"}}})")->as_object());
    ASSERT_TRUE(store_->Prepare({"todos", {{"title", true}, {"score", false}}}).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  template <typename T>
  T Run(asio::awaitable<T> aw) {
    asio::io_context ioc;
    auto f = asio::co_spawn(ioc, std::move(aw), asio::use_future);
    ioc.run();
    return f.get();
  }

  query::Query Q(std::string_view text) {
    auto q = query::ParseQuery(json::Parse(text)->as_object(), schema_, QueryLimits{});
    EXPECT_TRUE(q.ok()) << q.status().message();
    return std::move(*q);
  }

  std::vector<std::string> Ids(std::string_view query_text) {
    auto r = Run(store_->Find("todos", Q(query_text), 1000));
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::vector<std::string> ids;
    for (auto& d : *r) ids.push_back(d.id);
    return ids;
  }

  Status Insert(std::string id, std::string_view fields) {
    return Run(store_->Insert("todos", Document{std::move(id), json::Parse(fields)->as_object()}));
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
  query::Schema schema_;
};

TEST_F(SqliteStoreTest, CrudRoundTrip) {
  ASSERT_TRUE(Insert("a1", R"({"title":"one","score":5})").ok());
  ASSERT_TRUE(Insert("a2", R"({"title":"two","score":7,"tags":["x"]})").ok());
  auto found = Run(store_->Find("todos", Q(R"({"id":"a2"})"), 1000));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(json::Write((*found)[0].fields), R"({"title":"two","score":7,"tags":["x"]})");
  auto texts = Run(store_->FindJson("todos", Q(R"({"$sort":{"score":1}})"), 1000));
  ASSERT_TRUE(texts.ok());
  ASSERT_EQ(texts->size(), 2u);
  EXPECT_EQ((*texts)[0], R"({"title":"one","score":5,"id":"a1"})");
  EXPECT_EQ((*texts)[1], R"({"title":"two","score":7,"tags":["x"],"id":"a2"})");
  ASSERT_TRUE(Insert("a3", "{}").ok());
  EXPECT_EQ((*Run(store_->FindJson("todos", Q(R"({"id":"a3"})"), 1000)))[0], R"({"id":"a3"})");
  ASSERT_EQ(*Run(store_->Remove("todos", std::vector<std::string>{"a3"})), 1);
  EXPECT_TRUE(Run(store_->Replace("todos", Document{"a2", json::Parse(R"({"title":"two!"})")->as_object()})).ok());
  EXPECT_EQ(Run(store_->Replace("todos", Document{"zz", {}})).code(), Code::kNotFound);
  EXPECT_EQ(Ids(R"({"title":"two!"})"), std::vector<std::string>{"a2"});
  auto count = Run(store_->Count("todos", Q("{}").filter));
  EXPECT_EQ(*count, 2);
  auto removed = Run(store_->Remove("todos", {"a1", "nope"}));
  EXPECT_EQ(*removed, 1);
  EXPECT_EQ(Ids("{}"), std::vector<std::string>{"a2"});
  EXPECT_TRUE(Run(store_->Drop("todos")).ok());
  EXPECT_TRUE(Ids("{}").empty());
}

TEST_F(SqliteStoreTest, UniqueViolationNamesTheProperty) {
  ASSERT_TRUE(Insert("a1", R"({"title":"same"})").ok());
  Status s = Insert("a2", R"({"title":"same"})");
  EXPECT_EQ(s.code(), Code::kBadRequest);
  EXPECT_EQ(s.message(), "unique:title");
  EXPECT_EQ(Insert("a1", R"({"title":"other"})").message(), "unique:id");
  EXPECT_EQ(Ids("{}").size(), 1u);  // the refused writes wrote nothing
}

TEST_F(SqliteStoreTest, IndexesAreUsed) {
  auto plan = store_->ExplainFind("todos", Q(R"({"score":{"$gt":500},"$sort":{"score":-1},"$limit":20})"));
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(plan->find("USING INDEX todos__score"), std::string::npos) << *plan;
  EXPECT_EQ(plan->find("USE TEMP B-TREE"), std::string::npos) << *plan;
  auto by_title = store_->ExplainFind("todos", Q(R"({"title":"x"})"));
  EXPECT_NE(by_title->find("USING INDEX todos__title"), std::string::npos) << *by_title;
  auto by_id = store_->ExplainFind("todos", Q(R"({"id":"x"})"));
  EXPECT_NE(by_id->find("USING INDEX sqlite_autoindex_todos_1"), std::string::npos) << *by_id;
}

TEST_F(SqliteStoreTest, MissingCollectionIsEmpty) {
  auto r = Run(store_->Find("nothing", Q("{}"), 1000));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(SqliteStoreTest, HostileValuesAreParameters) {
  ASSERT_TRUE(Insert("a1", R"({"title":"x'); DROP TABLE todos; --"})").ok());
  EXPECT_EQ(Ids(R"({"title":"x'); DROP TABLE todos; --"})"), std::vector<std::string>{"a1"});
  EXPECT_EQ(Ids(R"({"title":{"$regex":"DROP"}})"), std::vector<std::string>{"a1"});
}

TEST_F(SqliteStoreTest, ConcurrentWritesAreGroupCommitted) {
  asio::io_context ioc;
  int ok = 0;
  std::vector<Document> docs;  // must outlive the calls (the store takes references)
  for (int i = 0; i < 200; ++i) docs.push_back(Document{"w" + std::to_string(i), json::object{{"score", i}}});
  for (const auto& d : docs) {
    asio::co_spawn(ioc, store_->Insert("todos", d), [&](std::exception_ptr, Status s) { ok += s.ok(); });
  }
  ioc.run();
  EXPECT_EQ(ok, 200);
  EXPECT_EQ(store_->writes_committed(), 200u);
  EXPECT_LT(store_->batches_committed(), 200u);  // several writes shared a transaction
}

// The same queries on SQLite and on the in-memory matcher give the same ids in the same order.
TEST_F(SqliteStoreTest, DifferentialAgainstMatcher) {
  std::mt19937 rng(42);
  const char* titles[] = {"alpha", "beta", "gamma", "Alpha", "delta", "b"};
  std::vector<json::object> docs;
  for (int i = 0; i < 120; ++i) {
    json::object d;
    if (rng() % 5) d["title"] = std::string(titles[rng() % 6]) + std::to_string(i);
    if (rng() % 4) d["score"] = static_cast<std::int64_t>(rng() % 50);
    else if (rng() % 2) d["score"] = 0.5 * (rng() % 20);
    if (rng() % 3) d["done"] = rng() % 2 == 0;
    if (rng() % 2) {
      json::array tags;
      for (unsigned k = 0; k < rng() % 4; ++k) tags.emplace_back(std::string(1, static_cast<char>('a' + rng() % 4)));
      d["tags"] = tags;
    }
    if (rng() % 2) d["people"] = json::object{{"name", std::string(1, static_cast<char>('m' + rng() % 3))}};
    std::string id = "d" + std::to_string(1000 + i);
    ASSERT_TRUE(Insert(id, json::Write(d)).ok());
    d["id"] = id;
    docs.push_back(d);
  }
  const char* queries[] = {
      "{}", R"({"score":{"$gt":10}})", R"({"score":{"$gte":2.5,"$lt":30}})", R"({"title":{"$regex":"^a","$options":"i"}})",
      R"({"done":true})", R"({"done":false})", R"({"done":{"$ne":true}})", R"({"tags":"a"})",
      R"({"tags":{"$in":["b","c"]}})", R"({"tags":{"$nin":["a"]}})", R"({"tags":{"$all":["a","b"]}})",
      R"({"tags":{"$size":2}})", R"({"people.name":"m"})", R"({"people.name":{"$exists":false}})",
      R"({"title":{"$exists":true},"score":{"$lte":5}})", R"({"$or":[{"score":3},{"tags":"d"}]})",
      R"({"$nor":[{"score":{"$gt":5}},{"done":true}]})", R"({"score":{"$not":{"$gt":20}}})",
      R"({"score":{"$mod":[3,0]}})", R"({"score":{"$in":[1,2,3,0.5]}})", R"({"title":{"$gt":"b"}})",
      R"({"id":{"$in":["d1001","d1050"]}})", R"({"score":null})", R"({"score":{"$ne":null}})",
      R"({"$sort":{"score":-1},"$limit":15})", R"({"$sort":{"title":1},"$skip":10,"$limit":7})",
      R"({"score":{"$gt":5},"$sort":{"score":1,"title":-1}})",
      R"({"tags":{"$elemMatch":{"$in":["a","d"]}}})"};
  for (const char* text : queries) {
    query::Query q = Q(text);
    std::vector<json::object> expected;
    for (const auto& d : docs) {
      if (query::Matches(q.filter, d)) expected.push_back(d);
    }
    query::Query no_projection = q;
    query::ApplyQueryOptions(no_projection, 1000, expected);
    std::vector<std::string> want;
    for (auto& d : expected) want.emplace_back(d.at("id").as_string());
    EXPECT_EQ(Ids(text), want) << text;
  }
}

}  // namespace
}  // namespace dpd::store::sqlite
