#pragma once
// The MongoDB store (ARCHITECTURE §4) on libmongoc's client pool, in Deployd's own format: one collection per
// resource, documents with a 16-hex string `_id` (shown as `id`), plain fields — so an existing Deployd database
// is served unchanged.
//
// * Pool: maxPoolSize from the URI, else 10 × cores; serverSelectionTimeoutMS 5,000 and socketTimeoutMS 10,000
//   unless the URI says otherwise (a driver timeout answers 503 quickly instead of hanging a request).
// * Blocking driver calls run on a pool of store threads sized like the driver's pool; the caller's coroutine
//   resumes on its own executor.
// * Writes use w:"majority", j:true unless the URI sets `w`/`journal`.
// * The query AST becomes BSON filters, sorts and limits; only operators the query layer allowed exist there.
// * Unavailable server (selection failed, network error, timeout) → Code::kUnavailable (503 + Retry-After);
//   a duplicate key → DuplicateValue(property) (the same 400 as on SQLite).
//
// Thread-safety: all methods are safe from any thread.

#include <memory>
#include <string>

#include "base/status.h"
#include "store/store.h"

namespace dpd::store::mongo {

struct MongoOptions {
  std::string uri;                  // mongodb://…/<database>; the database defaults to "dpd"
  unsigned threads = 0;             // store threads; 0 = the pool's max size, at most 64
  std::int64_t read_budget_ms = 0;  // maxTimeMS of each find / count (0 = none): Unavailable "budget:…"
};

class MongoStore : public Store {
 public:
  static Result<std::unique_ptr<MongoStore>> Open(const MongoOptions& options);
  ~MongoStore() override;

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

  // A ping: OK when a server answers (the readiness check).
  Status Ping();
  boost::asio::awaitable<Status> Ready() override;
  // {"pool_max", "pool_in_use", "calls", "unavailable"}: the driver pool's size and use, and the calls that found
  // no server.
  StoreStats Stats() const override;

 private:
  MongoStore();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpd::store::mongo
