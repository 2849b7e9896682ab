#pragma once
// Counters shared by every node of an app (the Redis bus, realtime/redis_bus.h): the login limit holds across
// nodes, not per node. Fixed windows: the first increment of a key starts its window.
//
// Thread-safety: every method may be called from any thread.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace dpd {

class SharedCounter {
 public:
  virtual ~SharedCounter() = default;
  // Adds one to `key` (its window of `window` starts with its first increment) and returns the count so far, this
  // one included — or nullopt when the shared counter cannot answer now (the caller falls back to its own count).
  virtual boost::asio::awaitable<std::optional<std::int64_t>> Increment(const std::string& key,
                                                                        std::chrono::milliseconds window) = 0;
  // Takes one back (an attempt that should not count); nothing when the window has ended since.
  virtual void Decrement(const std::string& key) = 0;
};

}  // namespace dpd
