#pragma once
// The storage interface (ARCHITECTURE §4). Collections hold JSON documents addressed by a string id; queries come
// only as query::Query / query::Filter ASTs, never as client JSON. Every call is asynchronous from the caller's view
// (co_await); an implementation may complete reads inline and must answer a write only once it is durable.
//
// Thread-safety: all methods may be called concurrently from any worker thread; completions resume on the
// caller's executor.

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "json/json.h"
#include "query/aggregate.h"
#include "query/ast.h"
#include "query/update.h"

namespace dpd::store {

struct IndexSpec {
  std::string path;  // a schema property name
  bool unique = false;
};

struct CollectionSpec {
  std::string name;  // resource name, e.g. "todos" or "shop/orders"
  std::vector<IndexSpec> indexes;
};

// A document as stored: its id and its fields (without "id").
struct Document {
  std::string id;
  json::object fields;
  std::uint64_t stamp = 0;  // a hash of the stored form when the store gives one (SQLite), else 0
};

// A change to one stored document, applied by the store against the document as it is when the write runs — never
// against a copy read earlier — so concurrent patches of one document all count (spec §5.7 commands are atomic).
struct Patch {
  json::object set;                            // top-level fields to write
  std::vector<std::string> unset;              // top-level fields to remove
  std::vector<query::UpdateCommand> commands;  // $inc, $push, … applied after set/unset
  // The fast path: when the stored document still has `expected_stamp` (the Document::stamp it was read with),
  // `whole_json` — the caller's result of the patch on what it read, as JSON — is written as it is (no re-apply).
  std::uint64_t expected_stamp = 0;
  std::string whole_json;
  // An access rule (docs/rules.md) the document (with its "id") must match both as the write finds it and as the
  // patch leaves it, checked inside the write; else the update fails with Code::kForbidden and nothing changes.
  // Owned by the caller. (The fast path needs no check: the caller checked the document it read.)
  const query::Filter* guard = nullptr;
};

// `patch` (set, unset, then commands) applied to `doc` — what every store's Update does to the stored document.
inline void ApplyPatch(const Patch& patch, json::object& doc) {
  for (const auto& kv : patch.set) doc[kv.key()] = kv.value();
  for (const auto& key : patch.unset) doc.erase(key);
  query::ApplyCommands(patch.commands, doc);
}

// A write refused because it would duplicate a unique property: Status::Invalid with that property's error.
inline Status DuplicateValue(std::string property) {
  return Status::Invalid({{std::move(property), "is already in use"}});
}
// A read abandoned at its time budget (QueryLimits::time_budget) or because its client left: Code::kOverBudget.

// What a store reports about itself (safe to read from any thread).
struct StoreStats {
  struct Pool {
    std::int64_t max = 0;     // connections the pool may open
    std::int64_t in_use = 0;  // checked out now
    std::int64_t waits = 0;   // calls that found every connection in use and waited for one
  };
  // The embedded store's writer: writes are committed in batches, one fsync per batch.
  struct GroupCommit {
    std::int64_t batches = 0;   // transactions committed
    std::int64_t writes = 0;    // writes in them (writes / batches: the mean batch size)
    std::int64_t largest = 0;   // the largest batch so far
    double commit_seconds = 0;  // time in COMMIT and in the syncs that make commits durable (syncs may overlap)
    std::int64_t syncs = 0;     // syncs of the write-ahead log, each answering the commits made before it began
  };
  std::optional<GroupCommit> group_commit;
  std::optional<Pool> pool;                 // a client pool (MongoDB)
  std::optional<std::int64_t> calls;        // operations sent
  std::optional<std::int64_t> unavailable;  // operations that found the server unreachable
};

// Coroutine parameters are references (the caller co_awaits at once, so they outlive the call) rather than
// by-value class objects, which GCC 12 miscompiles when built from braced temporaries.
class Store {
 public:
  virtual ~Store() = default;

  // Creates the collection's storage and its indexes when missing. Called at start-up, before serving.
  virtual Status Prepare(const CollectionSpec& spec) = 0;

  // Documents matching `q` with its sort, skip and limit applied (limit 0 = `default_limit`). No projection.
  virtual boost::asio::awaitable<Result<std::vector<Document>>> Find(std::string_view collection, const query::Query& q,
                                                                     std::size_t default_limit) = 0;
  // Like Find, but each document as JSON text exactly as clients see it (fields, then "id" last), without
  // building a document tree: the fast path for reads no script needs to see.
  virtual boost::asio::awaitable<Result<std::vector<std::string>>> FindJson(std::string_view collection,
                                                                            const query::Query& q,
                                                                            std::size_t default_limit) = 0;
  virtual boost::asio::awaitable<Result<std::int64_t>> Count(std::string_view collection,
                                                             const query::Filter& filter) = 0;
  // The groups `pipeline` makes of the collection's documents, shaped as MongoDB answers them: objects with "_id"
  // first, then the outputs in the pipeline's order; sorted, skipped and limited as it says. More than
  // `pipeline.max_groups` groups: query::TooManyGroups. Within the read time budget (Code::kOverBudget beyond).
  virtual boost::asio::awaitable<Result<json::array>> Aggregate(std::string_view collection,
                                                                const query::Pipeline& pipeline) = 0;
  // Inserts a new document; a duplicate unique property fails with DuplicateValue.
  virtual boost::asio::awaitable<Status> Insert(std::string_view collection, const Document& doc) = 0;
  // Inserts all of `docs` or none: when one fails (a duplicate unique property), nothing is written and the status
  // is that document's, with `*failed` set to its index.
  virtual boost::asio::awaitable<Status> InsertMany(std::string_view collection, const std::vector<Document>& docs,
                                                    std::size_t* failed) = 0;
  // Replaces the fields of document `doc.id`; NotFound when it does not exist.
  virtual boost::asio::awaitable<Status> Replace(std::string_view collection, const Document& doc) = 0;
  // Applies `patch` to document `id` atomically with respect to every other write of it. The document as written,
  // or nullopt when it is `patch.whole_json` as given (nobody changed it since it was read). NotFound when there is
  // no such document.
  virtual boost::asio::awaitable<Result<std::optional<Document>>> Update(std::string_view collection,
                                                                         const std::string& id, const Patch& patch) = 0;
  // Removes the documents with these ids; returns how many existed.
  virtual boost::asio::awaitable<Result<std::int64_t>> Remove(std::string_view collection,
                                                              const std::vector<std::string>& ids) = 0;
  // Like Remove, but only those of `ids` that match `guard` (documents with their "id") as the write finds them.
  virtual boost::asio::awaitable<Result<std::int64_t>> RemoveWhere(std::string_view collection,
                                                                   const std::vector<std::string>& ids,
                                                                   const query::Filter& guard) = 0;
  // Removes every document of the collection (used when a resource is deleted).
  virtual boost::asio::awaitable<Status> Drop(std::string_view collection) = 0;
  // Moves every document of `from` to `to` (a resource renamed); nothing to move is success. The caller prepares
  // `to` (its indexes) afterwards.
  virtual boost::asio::awaitable<Status> Rename(std::string_view from, std::string_view to) = 0;

  // Whether the store answers now (`/__ready`); the embedded store always does.
  virtual boost::asio::awaitable<Status> Ready() { co_return Status::Ok(); }
  // Figures for `/__ready` and metrics; a store without figures leaves them unset.
  virtual StoreStats Stats() const { return {}; }
};

}  // namespace dpd::store
