#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>


#include "query/matcher.h"
#include "query/parse.h"
#include "store/store_testing.h"

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
  T Run(asio::awaitable<T> aw) { return testing::RunSync(std::move(aw)); }

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
  ASSERT_EQ(s.fields().size(), 1u);
  EXPECT_EQ(s.fields()[0].field, "title");
  EXPECT_EQ(s.fields()[0].message, "is already in use");
  Status dup_id = Insert("a1", R"({"title":"other"})");
  ASSERT_EQ(dup_id.fields().size(), 1u);
  EXPECT_EQ(dup_id.fields()[0].field, "id");
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
  const std::vector<json::object> docs = testing::DifferentialDocs();
  for (const auto& d : docs) {
    json::object fields = d;
    fields.stable_erase("id");
    ASSERT_TRUE(Insert(std::string(d.at("id").as_string()), json::Write(fields)).ok());
  }
  for (const std::string& text : testing::DifferentialQueries(true)) {
    query::Query q = Q(text);
    std::vector<json::object> expected;
    for (const auto& d : docs) {
      if (query::Matches(q.filter, d)) expected.push_back(d);
    }
    query::ApplyQueryOptions(q, 1000, expected);
    std::vector<std::string> want;
    for (auto& d : expected) want.emplace_back(d.at("id").as_string());
    EXPECT_EQ(Ids(text), want) << text;
  }
}

}  // namespace
}  // namespace dpd::store::sqlite
