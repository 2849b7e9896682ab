#pragma once
// Sessions (spec §8, ARCHITECTURE §6): Deployd's records in the `sessions` collection — {id, createdOn, lastActive,
// path, uid, userhash, _rooms} — so an existing Deployd database keeps its logins, fronted by an in-memory cache:
//
// * hard entry limit, least-recently-used eviction; expiry walks the LRU tail (oldest access first), never the
//   whole cache;
// * anonymous requests never reach this class (no id, nothing allocated or written);
// * `lastActive` is written lazily: a lookup marks the session when its stored value is older than
//   touch_interval, and Maintain() writes the marked ones in one batch;
// * ids are 128 hex chars from a CSPRNG; a login always creates a new session (no fixation).
//
// Thread-safety: all methods may be called from any worker thread (the cache is sharded, one mutex per shard).
// Coroutine parameters are references (GCC 12 note in docs/architecture.md).

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <atomic>
#include <functional>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "json/json.h"
#include "store/store.h"

namespace dpd::session {

inline constexpr std::string_view kCollection = "sessions";

struct SessionOptions {
  std::chrono::milliseconds max_age{30LL * 24 * 3600 * 1000};  // Deployd's sessions.maxAge default: 30 days
  std::size_t cache_entries = 100000;
  std::chrono::milliseconds touch_interval{60 * 1000};
  // Milliseconds since the epoch (createdOn, lastActive, expiry). Empty: the system clock. Tests set their own.
  std::function<std::int64_t()> clock;
};

struct Session {
  std::string id;
  std::int64_t created_on = 0;   // ms since the epoch
  std::int64_t last_active = 0;  // as stored
  std::string path;              // the user collection ("/users")
  std::string uid;
  std::string userhash;
  json::array rooms;   // _rooms
  json::object extra;  // other stored fields, kept as they are

  json::object ToFields() const;  // the stored document (without id)
  static Session FromDocument(const store::Document& doc);
};

using SessionPtr = std::shared_ptr<const Session>;

class SessionStore {
 public:
  SessionStore(store::Store* store, const SessionOptions& options);

  // Creates the `sessions` collection (and its index on uid).
  Status Prepare();

  // The live session `sid`, or null (malformed, unknown, expired).
  boost::asio::awaitable<SessionPtr> Find(const std::string& sid);
  // A new stored session for user `uid` of collection `path`.
  boost::asio::awaitable<Result<SessionPtr>> Create(const std::string& path, const std::string& uid,
                                                    const std::string& userhash);
  // Stores a changed session (rooms, data) and caches it.
  boost::asio::awaitable<Status> Save(const SessionPtr& session);
  // Removes one session; true when a stored one existed.
  boost::asio::awaitable<Result<bool>> Remove(const std::string& sid);
  // Removes every session of user `uid` (credential change, user deleted); returns how many.
  boost::asio::awaitable<Result<std::int64_t>> RemoveUser(const std::string& uid);
  // Periodic work: expired sessions leave the cache (oldest first) and the store; pending lastActive values are
  // written. Call every few seconds from one place.
  boost::asio::awaitable<void> Maintain();

  // Drops the cached copy of one session / of every session of user `uid` (it changed elsewhere: another node, the
  // store behind dpd's back); the next lookup reads the store. Nothing is written and no listener is told.
  void Invalidate(const std::string& sid);
  void InvalidateUser(const std::string& uid);
  // Drops every cached session (the bus was down: changes on other nodes may have been missed).
  void InvalidateAll();
  // While set, the cache is neither read nor filled: every lookup reads the store. The Redis bus sets it while it
  // cannot hear the other nodes, so a logout there is never missed here (fail closed).
  void SetBypass(bool bypass) { bypass_.store(bypass, std::memory_order_release); }
  bool bypassed() const { return bypass_.load(std::memory_order_acquire); }

  std::size_t cached() const;
  const SessionOptions& options() const { return options_; }
  // Counts since start-up, for the metrics.
  struct Figures {
    std::uint64_t created = 0;  // logins
    std::uint64_t ended = 0;    // sessions removed by logout, credential change or user deletion
    std::uint64_t evicted = 0;  // cached copies dropped at the cache bound (the session stays in the store)
    std::uint64_t expired = 0;  // cached sessions found expired by the upkeep
    std::uint64_t swept = 0;    // expired records removed from the store
    std::uint64_t sweeps = 0;   // store sweeps run
    double sweep_seconds = 0;   // their time, summed
  };
  Figures figures() const;

  // Told when a session is saved (its new state) or ends (null): the realtime hub moves its sockets. Set once,
  // before serving; called from the thread that made the change.
  using Listener = std::function<void(const std::string& sid, const SessionPtr& session)>;
  void SetListener(Listener listener) { listener_ = std::move(listener); }

 private:
  struct Entry {
    SessionPtr session;
    std::int64_t last_access = 0;  // ms
    bool dirty = false;            // last_access not yet written as lastActive
  };
  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> index;
    std::vector<std::string> dirty;  // ids whose lastActive is due
  };
  Shard& ShardOf(const std::string& sid);
  void Cache(const SessionPtr& s, std::int64_t now);
  void Forget(const std::string& sid);
  std::int64_t NowMs() const;

  store::Store* store_;
  SessionOptions options_;
  std::size_t per_shard_;
  Shard shards_[kShards];
  std::mutex sweep_mu_;
  std::int64_t last_sweep_ = 0;  // guarded by sweep_mu_
  bool sweep_backlog_ = false;   // guarded by sweep_mu_: the last sweep stopped at its cap
  Listener listener_;
  std::atomic<bool> bypass_{false};
  std::atomic<std::uint64_t> created_{0}, ended_{0}, evicted_{0}, expired_{0}, swept_{0}, sweeps_{0}, sweep_ns_{0};
  void Tell(const std::string& sid, const SessionPtr& s) const {
    if (listener_) listener_(sid, s);
  }
};

}  // namespace dpd::session
