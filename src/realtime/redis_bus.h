#pragma once
// The bus of several dpd nodes behind one load balancer (issue #17, docs/scaling.md). Every emit and session change
// goes to this node's hub at once — as on one node, and still while Redis is down — and is published on the app's
// Redis channel; what the other nodes publish there reaches this node's hub and session cache. A node skips its own
// messages, so each socket gets each frame once; one node's messages keep their order (one publishing connection).
//
// Threads: a publisher (a bounded queue, `realtime.bus_queue_bytes`: a request never waits for Redis; beyond the
// bound, or while Redis is down, messages are dropped and counted) and a subscriber (PING every second; no answer in
// 3 s counts as down). While the subscriber cannot hear the channel the session cache is bypassed (fail closed: a
// logout on another node is never missed); when it is subscribed again the cache is emptied and used again. A session
// change this node could not publish is made good the same way: once Redis answers again, the first message asks
// every other node to empty its session cache. The same publishing connection runs the shared counters
// (SharedCounter: the login limit across nodes).
//
// Thread-safety: every public method may be called from any thread; Start/Stop from one.

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/shared_counter.h"
#include "base/status.h"
#include "realtime/bus.h"

namespace dpd::realtime {

// redis://[:password@]host[:port][/db][?prefix=name] — prefix names the app's channel and keys (default "db<db>":
// every node using one Redis database is one app).
struct RedisUrl {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
  std::string prefix;
};
Result<RedisUrl> ParseRedisUrl(std::string_view url);

class RedisBus final : public Bus, public SharedCounter {
 public:
  RedisBus(RedisUrl url, std::size_t queue_bytes, Hub* hub, session::SessionStore* sessions);
  ~RedisBus() override;
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  // Called (on the subscriber thread) when another node reloaded its configuration. Set before Start.
  void SetReloadHandler(std::function<void()> handler) { on_reload_ = std::move(handler); }
  void Start();
  void Stop();

  // Bus
  void Publish(std::vector<std::string> rooms, const std::string& event, const json::value& data) override;
  void SessionChanged(const std::string& sid, const session::SessionPtr& session) override;
  boost::asio::awaitable<void> Fence() override;
  // This node's configuration changed (files, /__resources, SIGHUP): the others reload theirs.
  void PublishReload();

  // SharedCounter (Redis INCR with PEXPIRE on the first; DECR)
  boost::asio::awaitable<std::optional<std::int64_t>> Increment(const std::string& key,
                                                                std::chrono::milliseconds window) override;
  void Decrement(const std::string& key) override;

  // Both connections work: subscribed, and the last publish or connect succeeded.
  bool up() const { return sub_up_.load() && pub_up_.load(); }
  struct Figures {
    bool up = false;
    std::uint64_t published = 0;   // messages handed to Redis
    std::uint64_t received = 0;    // messages of other nodes delivered here
    std::uint64_t dropped = 0;     // messages not published (queue full, Redis down)
    std::uint64_t reconnects = 0;  // subscriptions made again after a loss
    std::size_t queued_bytes = 0;
  };
  Figures figures() const;
  const std::string& node_id() const { return node_; }

 private:
  struct Job {
    std::vector<std::string> argv;
    std::function<void(const void* reply)> done;  // a redisReply, or null when Redis did not answer
    std::size_t bytes = 0;
    bool message = false;  // a PUBLISH (counted as published / dropped)
    bool session = false;  // a session change: if it is lost, the other nodes must drop their caches
  };
  void Dropped(const Job& job);
  void Enqueue(Job job);
  void PublishJson(const json::object& message, bool session = false);
  void PublisherLoop();
  void SubscriberLoop();
  void Deliver(std::string_view payload);
  void SubscriberDown(const std::string& why);
  void SleepUnlessStopped(std::chrono::milliseconds d);

  RedisUrl url_;
  std::string channel_;
  std::string key_prefix_;
  std::string node_;
  std::size_t queue_limit_;
  Hub* hub_;
  session::SessionStore* sessions_;
  std::function<void()> on_reload_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;   // guarded by mu_
  std::size_t queued_ = 0;  // bytes, guarded by mu_
  bool stop_ = false;       // guarded by mu_
  std::atomic<bool> stopping_{false};
  std::atomic<bool> sub_up_{false}, pub_up_{false};
  std::atomic<bool> was_up_{false};        // the subscriber has been up once
  std::atomic<bool> down_logged_{false};   // the present loss of the channel is logged already
  std::atomic<bool> session_lost_{false};  // a session change was not published: tell the others to flush
  std::atomic<std::uint64_t> published_{0}, received_{0}, dropped_{0}, reconnects_{0};
  std::thread publisher_, subscriber_;
};

}  // namespace dpd::realtime
