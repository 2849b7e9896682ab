#pragma once
// A Store that forwards every call to another and times it: dpd_store_operation_duration_seconds{store,op}, from
// the call to its answer (for SQLite writes that includes waiting for the group commit and its fsync). Everything
// that uses the store — collections, users, sessions — goes through it.
//
// Thread-safety: as the wrapped store; the histograms take no lock.

#include <array>
#include <memory>
#include <string>

#include "metrics/metrics.h"
#include "store/store.h"

namespace dpd::server {

class TimedStore final : public store::Store {
 public:
  // `label`: the store's name in the metrics ("sqlite", "mongodb").
  TimedStore(std::unique_ptr<store::Store> inner, std::string label);

  Status Prepare(const store::CollectionSpec& spec) override { return inner_->Prepare(spec); }
  boost::asio::awaitable<Result<std::vector<store::Document>>> Find(std::string_view collection, const query::Query& q,
                                                                    std::size_t default_limit) override;
  boost::asio::awaitable<Result<std::vector<std::string>>> FindJson(std::string_view collection, const query::Query& q,
                                                                    std::size_t default_limit) override;
  boost::asio::awaitable<Result<std::int64_t>> Count(std::string_view collection, const query::Filter& filter) override;
  boost::asio::awaitable<Result<json::array>> Aggregate(std::string_view collection,
                                                        const query::Pipeline& pipeline) override;
  boost::asio::awaitable<Status> Insert(std::string_view collection, const store::Document& doc) override;
  boost::asio::awaitable<Status> InsertMany(std::string_view collection, const std::vector<store::Document>& docs,
                                            std::size_t* failed) override;
  boost::asio::awaitable<Status> Replace(std::string_view collection, const store::Document& doc) override;
  boost::asio::awaitable<Result<std::optional<store::Document>>> Update(std::string_view collection,
                                                                        const std::string& id,
                                                                        const store::Patch& patch) override;
  boost::asio::awaitable<Result<std::int64_t>> Remove(std::string_view collection,
                                                      const std::vector<std::string>& ids) override;
  boost::asio::awaitable<Result<std::int64_t>> RemoveWhere(std::string_view collection,
                                                           const std::vector<std::string>& ids,
                                                           const query::Filter& guard) override;
  boost::asio::awaitable<Status> Drop(std::string_view collection) override;
  boost::asio::awaitable<Status> Rename(std::string_view from, std::string_view to) override;
  boost::asio::awaitable<Status> Ready() override { return inner_->Ready(); }
  store::StoreStats Stats() const override { return inner_->Stats(); }

  // dpd_store_operation_duration_seconds for every operation that ran at least once.
  void Collect(std::vector<metrics::Family>& out) const;

 private:
  enum Op { kFind, kFindJson, kCount, kInsert, kReplace, kUpdate, kRemove, kDrop, kRename, kAggregate, kOps };
  struct Timer;
  std::unique_ptr<store::Store> inner_;
  std::string label_;
  std::array<std::unique_ptr<metrics::Histogram>, kOps> seconds_;
};

}  // namespace dpd::server
