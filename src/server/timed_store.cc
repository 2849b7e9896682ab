#include "server/timed_store.h"

#include <chrono>

namespace dpd::server {

struct TimedStore::Timer {
  metrics::Histogram& histogram;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  ~Timer() { histogram.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()); }
};

TimedStore::TimedStore(std::unique_ptr<store::Store> inner, std::string label)
    : inner_(std::move(inner)), label_(std::move(label)) {
  for (auto& h : seconds_) h = std::make_unique<metrics::Histogram>(metrics::Histogram::LatencyBounds());
}

boost::asio::awaitable<Result<std::vector<store::Document>>> TimedStore::Find(std::string_view collection,
                                                                              const query::Query& q,
                                                                              std::size_t default_limit) {
  Timer t{*seconds_[kFind]};
  co_return co_await inner_->Find(collection, q, default_limit);
}

boost::asio::awaitable<Result<std::vector<std::string>>> TimedStore::FindJson(std::string_view collection,
                                                                              const query::Query& q,
                                                                              std::size_t default_limit) {
  Timer t{*seconds_[kFindJson]};
  co_return co_await inner_->FindJson(collection, q, default_limit);
}

boost::asio::awaitable<Result<std::int64_t>> TimedStore::Count(std::string_view collection,
                                                               const query::Filter& filter) {
  Timer t{*seconds_[kCount]};
  co_return co_await inner_->Count(collection, filter);
}

boost::asio::awaitable<Result<json::array>> TimedStore::Aggregate(std::string_view collection,
                                                                  const query::Pipeline& pipeline) {
  Timer t{*seconds_[kAggregate]};
  co_return co_await inner_->Aggregate(collection, pipeline);
}

boost::asio::awaitable<Status> TimedStore::Insert(std::string_view collection, const store::Document& doc) {
  Timer t{*seconds_[kInsert]};
  co_return co_await inner_->Insert(collection, doc);
}

boost::asio::awaitable<Status> TimedStore::Replace(std::string_view collection, const store::Document& doc) {
  Timer t{*seconds_[kReplace]};
  co_return co_await inner_->Replace(collection, doc);
}

boost::asio::awaitable<Result<std::optional<store::Document>>> TimedStore::Update(std::string_view collection,
                                                                                  const std::string& id,
                                                                                  const store::Patch& patch) {
  Timer t{*seconds_[kUpdate]};
  co_return co_await inner_->Update(collection, id, patch);
}

boost::asio::awaitable<Result<std::int64_t>> TimedStore::Remove(std::string_view collection,
                                                                const std::vector<std::string>& ids) {
  Timer t{*seconds_[kRemove]};
  co_return co_await inner_->Remove(collection, ids);
}

boost::asio::awaitable<Status> TimedStore::InsertMany(std::string_view collection,
                                                      const std::vector<store::Document>& docs, std::size_t* failed) {
  Timer t{*seconds_[kInsert]};
  co_return co_await inner_->InsertMany(collection, docs, failed);
}

boost::asio::awaitable<Result<std::int64_t>> TimedStore::RemoveWhere(std::string_view collection,
                                                                     const std::vector<std::string>& ids,
                                                                     const query::Filter& guard) {
  Timer t{*seconds_[kRemove]};
  co_return co_await inner_->RemoveWhere(collection, ids, guard);
}

boost::asio::awaitable<Status> TimedStore::Drop(std::string_view collection) {
  Timer t{*seconds_[kDrop]};
  co_return co_await inner_->Drop(collection);
}

boost::asio::awaitable<Status> TimedStore::Rename(std::string_view from, std::string_view to) {
  Timer t{*seconds_[kRename]};
  co_return co_await inner_->Rename(from, to);
}

void TimedStore::Collect(std::vector<metrics::Family>& out) const {
  static const char* kNames[kOps] = {"find",   "find_json", "count", "insert", "replace",
                                     "update", "remove",    "drop",  "rename", "aggregate"};
  metrics::Family f{"dpd_store_operation_duration_seconds",
                    "Store operations from call to answer (SQLite writes: queue and group commit included), by "
                    "store and operation.",
                    metrics::Kind::kHistogram,
                    {}};
  for (int op = 0; op < kOps; ++op) {
    metrics::Histogram::Snapshot snap = seconds_[op]->Read();
    if (snap.count == 0) continue;
    const std::string base = "store=\"" + label_ + "\",op=\"" + kNames[op] + "\"";
    for (auto& s : metrics::HistogramFamily(f.name, "", snap).samples) {
      s.labels = s.labels.empty() ? base : base + "," + s.labels;
      f.samples.push_back(std::move(s));
    }
  }
  out.push_back(std::move(f));
}

}  // namespace dpd::server
