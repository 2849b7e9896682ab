// What only the SQLite store has: query plans that use the expression indexes, and group commit. The behaviour both
// stores share is tested once for both in store/store_conformance_test.cc.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "query/parse.h"
#include "store/store_testing.h"

namespace dpd::store::sqlite {
namespace {
namespace asio = boost::asio;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dpd_store_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto s = SqliteStore::Open({dir_ / "data" / "app.sqlite"});
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
    schema_ = testing::TestSchema();
    ASSERT_TRUE(store_->Prepare(testing::TestSpec("todos")).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  template <typename T>
  T Run(asio::awaitable<T> aw) {
    return testing::RunSync(std::move(aw));
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

// An owner rule's equality on a field few values share, sorted by another indexed field: without statistics SQLite
// fetches every match of the equality and sorts them; once the writer has analysed the collection, it walks the sort
// index and stops at the limit.
TEST_F(SqliteStoreTest, PlannerStatisticsFollowTheData) {
  auto schema = query::Schema::FromConfig(json::Parse(R"({"properties":{
      "owner":{"type":"string","index":true},"score":{"type":"number","index":true}}})")->as_object());
  ASSERT_TRUE(store_->Prepare({"owned", {{"owner", false}, {"score", false}}}).ok());
  auto q = query::ParseQuery(json::Parse(R"({"owner":"a","$sort":{"score":-1},"$limit":20})")->as_object(), *schema,
                             QueryLimits{});
  ASSERT_TRUE(q.ok());
  auto insert = [&](int from, int to) {
    std::vector<Document> docs;
    for (int i = from; i < to; ++i) {
      docs.push_back(Document{"o" + std::to_string(i), json::object{{"owner", i % 2 ? "a" : "b"}, {"score", i}}});
    }
    std::size_t failed = 0;
    ASSERT_TRUE(Run(store_->InsertMany("owned", docs, &failed)).ok());
  };
  insert(0, 500);
  EXPECT_EQ(store_->analyses(), 0u);
  EXPECT_NE(store_->ExplainFind("owned", *q)->find("USE TEMP B-TREE"), std::string::npos) << "no statistics yet";
  insert(500, 2000);
  ASSERT_TRUE(Insert("after", R"({"title":"after"})").ok());  // its batch comes after the analysis
  EXPECT_EQ(store_->analyses(), 1u);
  auto plan = store_->ExplainFind("owned", *q);
  EXPECT_NE(plan->find("USING INDEX owned__score"), std::string::npos) << *plan;
  EXPECT_EQ(plan->find("USE TEMP B-TREE"), std::string::npos) << *plan;
  // 499 more writes are not a quarter of 2000: no second analysis yet.
  insert(2000, 2499);
  ASSERT_TRUE(Insert("after2", R"({"title":"after2"})").ok());
  EXPECT_EQ(store_->analyses(), 1u);
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
  // The writer thread may still be inside the post that completed the last write (signalling ioc's scheduler):
  // joining it before ioc is destroyed (ThreadSanitizer found this).
  store_.reset();
}

}  // namespace
}  // namespace dpd::store::sqlite
