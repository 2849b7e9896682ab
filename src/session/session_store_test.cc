// SessionStore over the real SQLite store: create/find/remove, a Deployd-made record, expiry, the cache bound and
// lazy lastActive writes.
#include "session/session_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>

#include "base/random.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store_testing.h"

namespace dpd::session {
namespace {
namespace asio = boost::asio;

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dpd_session_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto s = store::sqlite::SqliteStore::Open({dir_ / "app.sqlite"});
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(*s);
  }
  void TearDown() override {
    sessions_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Every store runs on the test's clock (now_ms_), which only moves when a test advances it.
  SessionStore& Make(SessionOptions o) {
    o.clock = [this] { return now_ms_.load(); };
    sessions_ = std::make_unique<SessionStore>(store_.get(), o);
    EXPECT_TRUE(sessions_->Prepare().ok());
    return *sessions_;
  }
  template <typename T>
  T Run(asio::awaitable<T> aw) {
    return store::testing::RunSync(std::move(aw));
  }
  std::int64_t StoredCount() {
    query::Query all;
    auto r = Run(store_->Find(kCollection, all, 100000));
    return r.ok() ? static_cast<std::int64_t>(r->size()) : -1;
  }
  void Advance(std::int64_t ms) { now_ms_ += ms; }
  std::atomic<std::int64_t> now_ms_{1'700'000'000'000};
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SessionStore> sessions_;
};

TEST_F(SessionStoreTest, CreateFindRemove) {
  SessionStore& s = Make({});
  auto created = Run(s.Create("/users", "u1", "hash"));
  ASSERT_TRUE(created.ok());
  const std::string sid = (*created)->id;
  EXPECT_EQ(sid.size(), 128u);
  auto again = Run(s.Create("/users", "u1", "hash"));
  EXPECT_NE((*again)->id, sid) << "every login gets a new id";
  auto found = Run(s.Find(sid));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->uid, "u1");
  EXPECT_EQ(found->path, "/users");
  EXPECT_FALSE(Run(s.Find("nothex!")));
  EXPECT_FALSE(Run(s.Find(std::string(300, 'a'))));
  EXPECT_TRUE(*Run(s.Remove(sid)));
  EXPECT_FALSE(Run(s.Find(sid)));
  EXPECT_FALSE(*Run(s.Remove(sid)));
  EXPECT_EQ(*Run(s.RemoveUser("u1")), 1);
  EXPECT_EQ(StoredCount(), 0);
}

TEST_F(SessionStoreTest, ReadsARecordDeploydWrote) {
  SessionStore& s = Make({});
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string sid = RandomHex(64);
  json::object fields{{"createdOn", now - 1000},
                      {"lastActive", now - 1000},
                      {"path", "/users"},
                      {"uid", "abc123"},
                      {"userhash", "d41d8cd98f00b204e9800998ecf8427e"},
                      {"_rooms", json::array{"r1"}},
                      {"custom", 7}};
  ASSERT_TRUE(Run(store_->Insert(kCollection, store::Document{sid, fields})).ok());
  auto found = Run(s.Find(sid));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->uid, "abc123");
  EXPECT_EQ(found->userhash, "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(json::Write(found->rooms), R"(["r1"])");
  EXPECT_EQ(json::Write(found->ToFields().at("custom")), "7") << "unknown fields are kept";
}

TEST_F(SessionStoreTest, ExpiredSessionsAreAnonymousAndSwept) {
  SessionStore& s = Make({std::chrono::milliseconds(200), 1000, std::chrono::milliseconds(50)});
  auto a = *Run(s.Create("/users", "u1", "h"));
  Advance(199);
  EXPECT_TRUE(Run(s.Find(a->id))) << "not yet expired";
  Advance(300);
  EXPECT_FALSE(Run(s.Find(a->id))) << "expired in the cache";
  auto b = *Run(s.Create("/users", "u2", "h"));
  Advance(300);
  Run(s.Maintain());
  EXPECT_EQ(s.cached(), 0u);
  EXPECT_EQ(StoredCount(), 0) << "expired records are deleted";
  EXPECT_FALSE(Run(s.Find(b->id)));
}

TEST_F(SessionStoreTest, CacheIsBoundedAndEvictedSessionsComeBackFromTheStore) {
  SessionStore& s = Make({std::chrono::hours(1), 32, std::chrono::hours(1)});
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back((*Run(s.Create("/users", "u" + std::to_string(i), "h")))->id);
  EXPECT_LE(s.cached(), 32u);
  auto first = Run(s.Find(ids[0]));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->uid, "u0");
  EXPECT_LE(s.cached(), 32u);
}

TEST_F(SessionStoreTest, LastActiveIsWrittenLazily) {
  SessionStore& s = Make({std::chrono::hours(1), 1000, std::chrono::milliseconds(100)});
  auto a = *Run(s.Create("/users", "u1", "h"));
  const std::int64_t created = a->last_active;
  Advance(150);
  ASSERT_TRUE(Run(s.Find(a->id)));
  query::Query all;
  auto before = Run(store_->Find(kCollection, all, 10));
  EXPECT_EQ(static_cast<std::int64_t>(before->at(0).fields.at("lastActive").to_number<double>()), created)
      << "not written by the lookup itself";
  Run(s.Maintain());
  auto after = Run(store_->Find(kCollection, all, 10));
  EXPECT_EQ(static_cast<std::int64_t>(after->at(0).fields.at("lastActive").to_number<double>()), created + 150);
}

TEST_F(SessionStoreTest, InvalidateDropsOnlyTheCachedCopy) {
  SessionStore& s = Make({});
  auto a = *Run(s.Create("/users", "u1", "h"));
  auto b = *Run(s.Create("/users", "u1", "h"));
  auto c = *Run(s.Create("/users", "u2", "h"));
  int told = 0;
  s.SetListener([&told](const std::string&, const SessionPtr&) { ++told; });
  EXPECT_EQ(s.cached(), 3u);
  // Changed behind the cache (as another node would): the cached copy is stale until invalidated.
  json::object fields = a->ToFields();
  fields["_rooms"] = json::array{"elsewhere"};
  ASSERT_TRUE(Run(store_->Replace(kCollection, store::Document{a->id, fields})).ok());
  EXPECT_EQ(json::Write(Run(s.Find(a->id))->rooms), "[]");
  s.Invalidate(a->id);
  EXPECT_EQ(s.cached(), 2u);
  EXPECT_EQ(json::Write(Run(s.Find(a->id))->rooms), R"(["elsewhere"])") << "read again from the store";
  s.InvalidateUser("u1");
  EXPECT_EQ(s.cached(), 1u) << "both sessions of u1 left the cache, u2's stayed";
  EXPECT_TRUE(Run(s.Find(b->id))) << "still stored";
  EXPECT_TRUE(Run(s.Find(c->id)));
  EXPECT_EQ(told, 0) << "invalidation writes nothing and tells no one";
  EXPECT_EQ(StoredCount(), 3);
}

}  // namespace
}  // namespace dpd::session
