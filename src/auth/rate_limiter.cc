#include "auth/rate_limiter.h"

#include <functional>

namespace dpd::auth {

RateLimiter::RateLimiter(std::size_t attempts, std::chrono::milliseconds window, std::size_t max_keys)
    : attempts_(attempts), window_(window), max_per_shard_(std::max<std::size_t>(1, max_keys / kShards)) {}

void RateLimiter::Expire(Shard& shard, Clock::time_point now) {
  // Windows start in time order, so expired ones are at the front of `order`.
  while (!shard.order.empty()) {
    auto it = shard.entries.find(shard.order.front());
    if (it != shard.entries.end() && now - it->second.start < window_ && shard.entries.size() < max_per_shard_) break;
    if (it != shard.entries.end()) shard.entries.erase(it);
    shard.order.pop_front();
  }
}

bool RateLimiter::Exceeded(std::string_view key, Clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  Expire(shard, now);
  auto it = shard.entries.find(std::string(key));
  return it != shard.entries.end() && it->second.count >= attempts_;
}

bool RateLimiter::Allow(std::string_view key, Clock::time_point now) {
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  Expire(shard, now);
  auto it = shard.entries.find(std::string(key));
  if (it == shard.entries.end()) {
    shard.order.emplace_back(key);
    Entry e;
    e.start = now;
    e.count = 1;
    e.order = std::prev(shard.order.end());
    shard.entries.emplace(std::string(key), e);
    return true;
  }
  return ++it->second.count <= attempts_;
}

void RateLimiter::Refund(std::string_view key) {
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(std::string(key));
  if (it != shard.entries.end() && it->second.count > 0) --it->second.count;
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.entries.size();
  }
  return n;
}

}  // namespace dpd::auth
