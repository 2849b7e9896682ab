// What only the SQLite store has: query plans that use the expression indexes, and group commit. The behaviour both
// stores share is tested once for both in store/store_conformance_test.cc.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
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

  // Another store on data/<file>, whose reads hold snapshots as an HTTP worker's do (null when it cannot open).
  std::unique_ptr<SqliteStore> OpenHolding(const std::string& file) {
    SqliteOptions options{dir_ / "data" / file};
    options.hold_read_snapshots = true;
    auto opened = SqliteStore::Open(options);
    if (!opened.ok() || !(*opened)->Prepare(testing::TestSpec("todos")).ok()) return nullptr;
    return std::move(*opened);
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
  const auto stats = store_->Stats().group_commit;
  ASSERT_TRUE(stats.has_value());
  EXPECT_GE(stats->syncs, 1);  // every write answered after a sync of the log
  EXPECT_LE(stats->syncs, stats->batches);
  // The writer thread may still be inside the post that completed the last write (signalling ioc's scheduler):
  // joining it before ioc is destroyed (ThreadSanitizer found this).
  store_.reset();
}

// hold_read_snapshots (an HTTP worker's reads share one transaction): a write this store acknowledged is seen by
// the next read, the snapshot ends once the thread's ready handlers ran, and while it is held a TRUNCATE checkpoint
// cannot finish — which is why it must not outlive the batch.
constexpr const char* kOtherInsert = R"(INSERT INTO todos(id, doc) VALUES('c', '{"title":"c"}'))";
TEST_F(SqliteStoreTest, HeldReadSnapshotsSeeAcknowledgedWritesAndEndWithTheBatch) {
  std::unique_ptr<SqliteStore> store = OpenHolding("held.sqlite");
  ASSERT_NE(store, nullptr);
  sqlite3* other = nullptr;  // another writer of the file, which the store does not hear of
  ASSERT_EQ(sqlite3_open((dir_ / "data" / "held.sqlite").c_str(), &other), SQLITE_OK);
  auto checkpoint_busy = [other] {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(other, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &stmt, nullptr);
    int busy = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) busy = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return busy;
  };
  const query::Query all = Q("{}");
  asio::io_context io;
  std::vector<std::size_t> seen;
  int busy_while_held = -1;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const Document a{std::string("a"), json::object{{"title", "a"}}};
        const Document b{std::string("b"), json::object{{"title", "b"}}};
        co_await store->Insert("todos", a);
        auto r = co_await store->FindJson("todos", all, 1000);
        seen.push_back(r.ok() ? r->size() : 999);  // 1: the snapshot is taken and held
        co_await store->Insert("todos", b);
        r = co_await store->FindJson("todos", all, 1000);
        seen.push_back(r.ok() ? r->size() : 999);  // 2: an acknowledged write ends the older snapshot
        sqlite3_exec(other, kOtherInsert, nullptr, nullptr, nullptr);
        r = co_await store->FindJson("todos", all, 1000);
        seen.push_back(r.ok() ? r->size() : 999);  // 2: same batch, same snapshot
        busy_while_held = checkpoint_busy();
        co_await asio::post(io, asio::use_awaitable);  // the posted release runs before this resumes
        r = co_await store->FindJson("todos", all, 1000);
        seen.push_back(r.ok() ? r->size() : 999);  // 3: a new snapshot
      },
      asio::detached);
  io.run();
  EXPECT_EQ(seen, (std::vector<std::size_t>{1, 2, 2, 3}));
  EXPECT_EQ(busy_while_held, 1);
  EXPECT_EQ(checkpoint_busy(), 0);  // the worker went idle: nothing holds the log
  sqlite3_close(other);
}

// While workers hold read snapshots back to back (reads never stop), a steady stream of commits must not grow the
// write-ahead log without bound: past Impl::kHoldFrames frames reads go back to one statement each until the writer
// could restart the log (without that rule 5,000 commits under a busy reader left a 114 MB log; with it, under 12).
TEST_F(SqliteStoreTest, HeldReadSnapshotsDoNotLetTheLogGrowWithoutBound) {
  std::unique_ptr<SqliteStore> store = OpenHolding("busy.sqlite");
  ASSERT_NE(store, nullptr);
  const query::Query all = Q(R"({"$limit":5})");
  asio::io_context worker;
  std::atomic<bool> stop{false};
  std::function<void()> read_again = [&] {  // one read per handler, back to back: a snapshot is nearly always held
    if (stop) return;
    asio::co_spawn(
        worker,
        [&]() -> asio::awaitable<void> {
          auto r = co_await store->FindJson("todos", all, 5);
          EXPECT_TRUE(r.ok());
          std::this_thread::sleep_for(std::chrono::milliseconds(2));  // more work in the same batch: still held
        },
        [&](std::exception_ptr) { read_again(); });
  };
  read_again();
  read_again();
  std::thread thread([&] { worker.run(); });
  std::uintmax_t largest = 0;
  const auto wal = dir_ / "data" / "busy.sqlite-wal";
  for (int i = 0; i < 5000; ++i) {
    Status s =
        Run(store->Insert("todos", Document{"d" + std::to_string(i),
                                            json::object{{"title", std::string(200, 'x') + std::to_string(i)}}}));
    ASSERT_TRUE(s.ok()) << s.message();
    if (i % 100 == 0) largest = std::max(largest, std::filesystem::file_size(wal));
  }
  stop = true;
  thread.join();
  largest = std::max(largest, std::filesystem::file_size(wal));
  EXPECT_LT(largest, 12u * 1024 * 1024) << largest;
}

// Pipelined durability: the writer commits batch after batch while the log syncs run beside it, and checkpoints run
// on a connection of their own while writes go on — such a checkpoint never catches up with the log's end, so the
// log could only restart (and stop growing) once the writer copies the rest itself (past Impl::kHoldFrames). Writes
// that never pause must leave a bounded log, and every acknowledged write must be there after the store reopens.
TEST_F(SqliteStoreTest, PipelinedWritesKeepTheLogBoundedAndAreAllThereAfterReopening) {
  const auto file = dir_ / "data" / "stream.sqlite";
  auto opened = SqliteStore::Open({file});
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<SqliteStore> store = std::move(*opened);
  ASSERT_TRUE(store->Prepare(testing::TestSpec("todos")).ok());
  asio::io_context io;
  constexpr int kWriters = 32, kEach = 250;
  std::atomic<int> acknowledged{0};
  std::uintmax_t largest = 0;
  for (int w = 0; w < kWriters; ++w) {
    asio::co_spawn(
        io,
        [&, w]() -> asio::awaitable<void> {
          for (int i = 0; i < kEach; ++i) {
            // Random-looking ids, as Deployd makes them: each insert lands on its own index page.
            const std::string id = std::to_string(static_cast<std::uint64_t>(w * 100000 + i) * 7919 % 1000003) + "-" +
                                   std::to_string(w) + "-" + std::to_string(i);
            const Document d{id, json::object{{"title", std::string(600, 'x') + id}, {"score", i}}};
            Status s = co_await store->Insert("todos", d);
            EXPECT_TRUE(s.ok()) << s.message();
            if (s.ok()) ++acknowledged;
            std::error_code ec;
            if (i % 25 == 0) largest = std::max(largest, std::filesystem::file_size(file.string() + "-wal", ec));
          }
        },
        asio::detached);
  }
  io.run();
  ASSERT_EQ(acknowledged.load(), kWriters * kEach);
  const auto stats = store->Stats().group_commit;
  ASSERT_TRUE(stats.has_value());
  EXPECT_LT(stats->syncs, stats->batches);  // syncs overlapped commits: one answered several batches
  store.reset();
  EXPECT_LT(largest, 16u * 1024 * 1024) << largest;  // 8,000 writes of ~1 KB touched ~30 MB of pages
  auto again = SqliteStore::Open({file});
  ASSERT_TRUE(again.ok());
  auto all = testing::RunSync((*again)->Count("todos", query::Filter{}));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, kWriters * kEach);
}

}  // namespace
}  // namespace dpd::store::sqlite
