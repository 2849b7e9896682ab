#pragma once
// The embedded store (ARCHITECTURE §4): one SQLite file in WAL mode. Writes go to one writer thread that batches
// whatever is queued into one transaction (group commit, one fsync with synchronous=FULL, run on a second thread
// while the writer commits the next batch) and answers each write only after its batch is durable; each write runs
// in its own savepoint, so one failing write does not fail its batch-mates. Reads run inline on the calling worker thread on that thread's own read-only connection, with
// prepared statements cached per connection.
//
// Thread-safety: all Store methods are safe from any thread. Prepare() must finish before requests arrive.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "store/store.h"

namespace dpd::store::sqlite {

struct SqliteOptions {
  std::filesystem::path file;
  bool synchronous_full = true;       // false = synchronous=NORMAL (durable against process crashes, not power loss)
  // With synchronous_full on a write-ahead log: the writer commits the next batch while the last one's log sync runs
  // on a thread of its own; each write is still answered only once on disk. false: COMMIT itself syncs (tests).
  bool pipeline_sync = true;
  std::size_t max_batch = 512;        // writes per transaction
  std::size_t statement_cache = 256;  // prepared statements per connection
  // Each find / count is interrupted after this long (0 = never): Unavailable "budget:…" (RELIABILITY B2).
  std::chrono::milliseconds read_budget{0};
  // Reads on an HTTP worker share one read transaction until the worker's ready handlers ran out (or this store
  // commits): no locking calls per read. Only for a file no other process writes — its commits would go unseen
  // until then (server::OpenStore turns it off when several nodes share the store).
  bool hold_read_snapshots = false;
};

class SqliteStore : public Store {
 public:
  // Opens (creating) the database file and starts the writer thread.
  static Result<std::unique_ptr<SqliteStore>> Open(SqliteOptions options);
  ~SqliteStore() override;

  Status Prepare(const CollectionSpec& spec) override;
  boost::asio::awaitable<Result<std::vector<Document>>> Find(std::string_view collection, const query::Query& q,
                                                             std::size_t default_limit) override;
  boost::asio::awaitable<Result<std::vector<std::string>>> FindJson(std::string_view collection, const query::Query& q,
                                                                    std::size_t default_limit) override;
  boost::asio::awaitable<Result<std::int64_t>> Count(std::string_view collection, const query::Filter& filter) override;
  boost::asio::awaitable<Result<json::array>> Aggregate(std::string_view collection,
                                                        const query::Pipeline& pipeline) override;
  boost::asio::awaitable<Status> Insert(std::string_view collection, const Document& doc) override;
  boost::asio::awaitable<Status> InsertMany(std::string_view collection, const std::vector<Document>& docs,
                                            std::size_t* failed) override;
  boost::asio::awaitable<Status> Replace(std::string_view collection, const Document& doc) override;
  boost::asio::awaitable<Result<std::optional<Document>>> Update(std::string_view collection, const std::string& id,
                                                                 const Patch& patch) override;
  boost::asio::awaitable<Result<std::int64_t>> Remove(std::string_view collection,
                                                      const std::vector<std::string>& ids) override;
  boost::asio::awaitable<Result<std::int64_t>> RemoveWhere(std::string_view collection,
                                                           const std::vector<std::string>& ids,
                                                           const query::Filter& guard) override;
  boost::asio::awaitable<Status> Drop(std::string_view collection) override;
  boost::asio::awaitable<Status> Rename(std::string_view from, std::string_view to) override;

  // EXPLAIN QUERY PLAN of the find `q` would run (for tests: indexes must be used).
  Result<std::string> ExplainFind(std::string_view collection, const query::Query& q);

  // Writes committed and transactions (batches) used so far.
  std::uint64_t writes_committed() const;
  // How often the writer refreshed the planner's statistics (ANALYZE of a collection that changed enough).
  std::uint64_t analyses() const;
  std::uint64_t batches_committed() const;
  StoreStats Stats() const override;

 private:
  SqliteStore();
  Result<std::int64_t> CountNow(std::string_view collection, const query::Filter& filter);
  Result<json::array> AggregateNow(std::string_view collection, const query::Pipeline& pipeline);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpd::store::sqlite
