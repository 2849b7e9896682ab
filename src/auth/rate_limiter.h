#pragma once
// Fixed-window attempt counters keyed by a string ("ip|username"), for login and sign-up throttling (RELIABILITY.md
// B2: 5 logins per 15 s per IP+username, 20 sign-ups per 5 s per IP → 429). A limit that must hold under any
// concurrency reserves first — Allow() before the work (the password check) — and gives the attempt back with
// Refund() when it should not count (a login that succeeded). Memory-bounded: at most `max_keys` keys; when full,
// expired windows are dropped first, then the oldest. Thread-safe (sharded mutexes).

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dpd::auth {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(std::size_t attempts, std::chrono::milliseconds window, std::size_t max_keys = 100000);

  // Counts one attempt for `key`; false when the key already used its attempts in the current window.
  bool Allow(std::string_view key, Clock::time_point now = Clock::now());
  // True when `key` used its attempts in the current window (nothing is counted).
  bool Exceeded(std::string_view key, Clock::time_point now = Clock::now());
  // Gives back one attempt Allow() granted (no effect when the window has ended since).
  void Refund(std::string_view key);
  std::size_t size() const;

 private:
  struct Shard;
  void Expire(Shard& shard, Clock::time_point now);
  struct Entry {
    Clock::time_point start;
    std::size_t count = 0;
    std::list<std::string>::iterator order;
  };
  static constexpr std::size_t kShards = 8;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry> entries;
    std::list<std::string> order;  // oldest window first
  };
  std::size_t attempts_;
  std::chrono::milliseconds window_;
  std::size_t max_per_shard_;
  Shard shards_[kShards];
};

}  // namespace dpd::auth
