#include "realtime/redis_bus.h"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/asio/redirect_error.hpp>

#include <cctype>
#include <charconv>

#include "base/log.h"
#include "base/random.h"

namespace dpd::realtime {
namespace {

using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

constexpr auto kConnectTimeout = std::chrono::milliseconds(500);
constexpr auto kReplyTimeout = std::chrono::seconds(2);
constexpr auto kPingEvery = std::chrono::seconds(1);
constexpr auto kSilenceIsDown = std::chrono::seconds(3);
constexpr auto kRetryEvery = std::chrono::seconds(1);
constexpr auto kCounterAnswer = std::chrono::milliseconds(500);  // a login waits no longer for the shared count

// INCR, and the window starts with the first attempt (fixed window, as auth::RateLimiter).
constexpr const char* kIncrementScript =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return n";
// DECR only a key that still exists (a window that ended is not brought back as -1).
constexpr const char* kDecrementScript =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0";

timeval ToTimeval(std::chrono::microseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(d.count() % 1000000);
  return tv;
}

struct ContextDeleter {
  void operator()(redisContext* c) const {
    if (c) redisFree(c);
  }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// hiredis takes a command as parallel arrays of pointers and lengths (arguments may hold any byte).
struct Argv {
  explicit Argv(const std::vector<std::string>& argv) {
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
  }
  int count() const { return static_cast<int>(args.size()); }
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
};

Reply Command(redisContext* c, const std::vector<std::string>& argv) {
  Argv a(argv);
  return Reply(static_cast<redisReply*>(redisCommandArgv(c, a.count(), a.args.data(), a.lens.data())));
}

void AppendCommand(redisContext* c, const std::vector<std::string>& argv) {
  Argv a(argv);
  redisAppendCommandArgv(c, a.count(), a.args.data(), a.lens.data());
}

// A connection with the reply timeout set, authenticated and on the URL's database; null (and `why`) otherwise.
Context Connect(const RedisUrl& url, std::string& why) {
  Context c(redisConnectWithTimeout(url.host.c_str(), url.port, ToTimeval(kConnectTimeout)));
  if (!c || c->err) {
    why = c ? c->errstr : "out of memory";
    return nullptr;
  }
  redisSetTimeout(c.get(), ToTimeval(kReplyTimeout));
  redisEnableKeepAlive(c.get());
  if (!url.password.empty()) {
    Reply r = Command(c.get(), {"AUTH", url.password});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      why = r ? std::string(r->str, r->len) : c->errstr;
      return nullptr;
    }
  }
  if (url.db != 0) {
    Reply r = Command(c.get(), {"SELECT", std::to_string(url.db)});
    if (!r || r->type == REDIS_REPLY_ERROR) {
      why = r ? std::string(r->str, r->len) : c->errstr;
      return nullptr;
    }
  }
  return c;
}

std::string Where(const RedisUrl& url) {
  return url.host + ":" + std::to_string(url.port) + "/" + std::to_string(url.db);
}

}  // namespace

Result<RedisUrl> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  const auto bad = [&](std::string_view why) {
    return Status::BadRequest("--bus must be redis://[:password@]host[:port][/db][?prefix=name] (" + std::string(why) +
                              "), got \"" + std::string(url) + "\"");
  };
  if (url.substr(0, kScheme.size()) != kScheme) return bad("not redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisUrl out;
  if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
    std::string_view params = rest.substr(q + 1);
    rest = rest.substr(0, q);
    if (params.substr(0, 7) != "prefix=" || params.size() == 7) return bad("the only parameter is prefix=name");
    out.prefix = std::string(params.substr(7));
    for (char ch : out.prefix) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') {
        return bad("prefix: letters, digits, - _ . only");
      }
    }
  }
  if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (std::size_t colon = auth.find(':'); colon != std::string_view::npos) auth = auth.substr(colon + 1);
    out.password = std::string(auth);
  }
  if (std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
      if (ec != std::errc() || p != db.data() + db.size() || out.db < 0 || out.db > 15) return bad("db is 0-15");
    }
  }
  if (std::size_t colon = rest.rfind(':');
      colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    std::string_view port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (ec != std::errc() || p != port.data() + port.size() || out.port < 1 || out.port > 65535) return bad("port");
  }
  if (!rest.empty()) out.host = std::string(rest);
  if (out.prefix.empty()) out.prefix = "db" + std::to_string(out.db);
  return out;
}

RedisBus::RedisBus(RedisUrl url, std::size_t queue_bytes, Hub* hub, session::SessionStore* sessions)
    : url_(std::move(url)),
      channel_("dpd:" + url_.prefix + ":bus"),
      key_prefix_("dpd:" + url_.prefix + ":"),
      node_(RandomHex(8)),
      queue_limit_(queue_bytes),
      hub_(hub),
      sessions_(sessions) {}

RedisBus::~RedisBus() { Stop(); }

void RedisBus::Start() {
  // Fail closed from the first request: until the channel is heard, nothing cached is trusted.
  sessions_->SetBypass(true);
  publisher_ = std::thread([this] { PublisherLoop(); });
  subscriber_ = std::thread([this] { SubscriberLoop(); });
}

void RedisBus::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  stopping_.store(true);
  cv_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  if (subscriber_.joinable()) subscriber_.join();
}

RedisBus::Figures RedisBus::figures() const {
  Figures f;
  f.up = up();
  f.published = published_.load();
  f.received = received_.load();
  f.dropped = dropped_.load();
  f.reconnects = reconnects_.load();
  {
    std::lock_guard lock(mu_);
    f.queued_bytes = queued_;
  }
  return f;
}

// ---- publishing ----

void RedisBus::Enqueue(Job job) {
  for (const auto& a : job.argv) job.bytes += a.size();
  {
    std::lock_guard lock(mu_);
    if (!stop_ && queued_ + job.bytes <= queue_limit_) {
      queued_ += job.bytes;
      queue_.push_back(std::move(job));
      cv_.notify_one();
      return;
    }
  }
  Dropped(job);
}

void RedisBus::Dropped(const Job& job) {
  if (job.message) dropped_.fetch_add(1);
  if (job.session) session_lost_.store(true);
  if (job.done) job.done(nullptr);
}

void RedisBus::PublishJson(const json::object& message, bool session) {
  Job job;
  job.argv = {"PUBLISH", channel_, json::Write(message)};
  job.message = true;
  job.session = session;
  Enqueue(std::move(job));
}

void RedisBus::Publish(std::vector<std::string> rooms, const std::string& event, const json::value& data) {
  json::array r;
  for (const auto& room : rooms) r.emplace_back(json::string(room));
  PublishJson(json::object{{"n", node_}, {"k", "e"}, {"r", std::move(r)}, {"e", event}, {"d", data}});
  hub_->Emit(std::move(rooms), event, data);
}

void RedisBus::SessionChanged(const std::string& sid, const session::SessionPtr& session) {
  json::value doc = session ? json::value(session->ToFields()) : json::value(nullptr);
  PublishJson(json::object{{"n", node_}, {"k", "s"}, {"sid", sid}, {"doc", std::move(doc)}}, true);
  hub_->SessionChanged(sid, session);
}

void RedisBus::PublishReload() { PublishJson(json::object{{"n", node_}, {"k", "r"}}); }

boost::asio::awaitable<void> RedisBus::Fence() { return hub_->Fence(); }

boost::asio::awaitable<std::optional<std::int64_t>> RedisBus::Increment(const std::string& key,
                                                                        std::chrono::milliseconds window) {
  if (!pub_up_.load()) co_return std::nullopt;
  struct Wait {
    explicit Wait(asio::any_io_executor e) : timer(std::move(e)) {}
    asio::steady_timer timer;
    std::mutex mu;
    std::optional<std::int64_t> result;
  };
  auto executor = co_await asio::this_coro::executor;
  auto wait = std::make_shared<Wait>(executor);
  wait->timer.expires_after(kCounterAnswer);
  Job job;
  job.argv = {"EVAL", kIncrementScript, "1", key_prefix_ + "count:" + key, std::to_string(window.count())};
  // Weakly: a login that stopped waiting (its 500 ms are over) leaves nothing of it, timer included, in the queue.
  job.done = [weak = std::weak_ptr<Wait>(wait)](const void* reply) {
    auto wait = weak.lock();
    if (!wait) return;
    const auto* r = static_cast<const redisReply*>(reply);
    {
      std::lock_guard lock(wait->mu);
      if (r && r->type == REDIS_REPLY_INTEGER) wait->result = r->integer;
    }
    asio::post(wait->timer.get_executor(), [wait] { wait->timer.cancel(); });
  };
  Enqueue(std::move(job));
  boost::system::error_code ec;
  co_await wait->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  std::lock_guard lock(wait->mu);
  co_return wait->result;
}

void RedisBus::Decrement(const std::string& key) {
  Job job;
  job.argv = {"EVAL", kDecrementScript, "1", key_prefix_ + "count:" + key};
  Enqueue(std::move(job));
}

void RedisBus::PublisherLoop() {
  Context c;
  Clock::time_point last_attempt{};
  bool warned = false;  // this loss of Redis is logged already
  std::string why;
  for (;;) {
    std::deque<Job> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kRetryEvery, [&] { return stop_ || !queue_.empty(); });
      if (stop_) break;
      batch.swap(queue_);
      queued_ = 0;
    }
    if (!c && Clock::now() - last_attempt >= kRetryEvery) {
      last_attempt = Clock::now();
      c = Connect(url_, why);
      if (c) {
        warned = false;
        if (!pub_up_.exchange(true)) spdlog::info("bus: publishing to redis {}", Where(url_));
      } else if (!warned) {
        warned = true;
        spdlog::warn("bus: cannot publish to redis {} ({}); messages are dropped until it is back", Where(url_), why);
      }
    }
    if (!c) {
      pub_up_.store(false);
      for (const Job& j : batch) Dropped(j);
      continue;
    }
    // A session change that was lost (queue full, Redis gone) may be a logout the others still cache: before
    // anything else they drop every cached session, as this node does when it loses the channel.
    if (session_lost_.exchange(false)) {
      Job flush;
      flush.argv = {"PUBLISH", channel_, json::Write(json::object{{"n", node_}, {"k", "a"}})};
      flush.message = true;
      flush.session = true;
      batch.push_front(std::move(flush));
    }
    // One pipeline per batch: the commands go out together and their replies come back in order.
    for (const Job& j : batch) AppendCommand(c.get(), j.argv);
    std::size_t answered = 0;
    for (; answered < batch.size(); ++answered) {
      void* raw = nullptr;
      if (redisGetReply(c.get(), &raw) != REDIS_OK) break;
      Reply r(static_cast<redisReply*>(raw));
      Job& j = batch[answered];
      if (j.message) published_.fetch_add(1);
      if (j.done) j.done(r.get());
    }
    if (answered < batch.size()) {
      if (!warned) {
        warned = true;
        spdlog::warn("bus: redis {} stopped answering ({}); messages are dropped until it is back", Where(url_),
                     c->errstr);
      }
      pub_up_.store(false);
      c.reset();
      for (std::size_t i = answered; i < batch.size(); ++i) Dropped(batch[i]);
    }
  }
  std::lock_guard lock(mu_);
  for (Job& j : queue_) {
    if (j.done) j.done(nullptr);
  }
  queue_.clear();
  queued_ = 0;
}

// ---- subscribing ----

void RedisBus::SleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stop_; });
}

void RedisBus::SubscriberDown(const std::string& why) {
  sessions_->SetBypass(true);
  if (sub_up_.exchange(false)) {
    down_logged_.store(true);
    spdlog::warn(
        "bus: lost redis {} ({}): the session cache is bypassed and other nodes' emits are not heard "
        "until it is back",
        Where(url_), why);
  } else if (!down_logged_.exchange(true) && !stopping_.load()) {
    spdlog::warn("bus: cannot reach redis {} ({}); retrying every second, the session cache bypassed meanwhile",
                 Where(url_), why);
  }
}

void RedisBus::SubscriberLoop() {
  while (!stopping_.load()) {
    std::string why;
    Context c = Connect(url_, why);
    if (!c) {
      SubscriberDown(why);
      SleepUnlessStopped(kRetryEvery);
      continue;
    }
    Reply r = Command(c.get(), {"SUBSCRIBE", channel_});
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      SubscriberDown(r ? "SUBSCRIBE refused" : c->errstr);
      SleepUnlessStopped(kRetryEvery);
      continue;
    }
    r.reset();
    // Whatever was published while this node did not listen is lost: nothing cached before now is trusted.
    sessions_->InvalidateAll();
    sessions_->SetBypass(false);
    sub_up_.store(true);
    down_logged_.store(false);
    if (was_up_.exchange(true)) {
      reconnects_.fetch_add(1);
      spdlog::info("bus: redis {} is back; subscribed again, the session cache is used again", Where(url_));
    } else {
      spdlog::info("bus: subscribed to {} on redis {} as node {}", channel_, Where(url_), node_);
    }
    auto last_heard = Clock::now();
    auto last_ping = Clock::now();
    std::string lost;
    while (!stopping_.load()) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c.get(), &raw) != REDIS_OK) {
        lost = c->errstr;
        break;
      }
      if (raw != nullptr) {
        Reply reply(static_cast<redisReply*>(raw));
        last_heard = Clock::now();
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 && reply->element[0]->type == REDIS_REPLY_STRING &&
            std::string_view(reply->element[0]->str, reply->element[0]->len) == "message" &&
            reply->element[2]->type == REDIS_REPLY_STRING) {
          Deliver(std::string_view(reply->element[2]->str, reply->element[2]->len));
        }
        continue;  // subscribe confirmations and PING answers only say the connection lives
      }
      const auto now = Clock::now();
      if (now - last_heard > kSilenceIsDown) {
        lost = "no answer to PING";
        break;
      }
      if (now - last_ping >= kPingEvery) {
        last_ping = now;
        redisAppendCommand(c.get(), "PING");
        int done = 0;
        while (!done) {
          if (redisBufferWrite(c.get(), &done) != REDIS_OK) break;
        }
        if (!done) {
          lost = c->errstr;
          break;
        }
      }
      pollfd p{c->fd, POLLIN, 0};
      const int n = ::poll(&p, 1, 200);
      if (n > 0 && redisBufferRead(c.get()) != REDIS_OK) {
        lost = c->errstr[0] ? c->errstr : "connection closed";
        break;
      }
    }
    if (!stopping_.load()) {
      SubscriberDown(lost.empty() ? "connection lost" : lost);
      SleepUnlessStopped(kRetryEvery);
    }
  }
  sub_up_.store(false);
}

void RedisBus::Deliver(std::string_view payload) {
  JsonLimits limits;
  limits.max_array_elements = 1000000;  // a message of one of our own nodes: only its size is bounded (by Redis)
  limits.max_object_keys = 1000000;
  auto parsed = json::Parse(payload, limits);
  if (!parsed.ok() || !parsed->is_object()) {
    spdlog::warn("bus: a message that is not ours on {} was ignored", channel_);
    return;
  }
  const json::object& m = parsed->as_object();
  const json::value* node = m.if_contains("n");
  const json::value* kind = m.if_contains("k");
  if (!node || !node->is_string() || !kind || !kind->is_string()) return;
  if (node->as_string() == node_) return;  // our own: delivered here when it was published
  received_.fetch_add(1);
  const std::string_view k = kind->as_string();
  if (k == "e") {
    const json::value* rooms = m.if_contains("r");
    const json::value* event = m.if_contains("e");
    const json::value* data = m.if_contains("d");
    if (!rooms || !rooms->is_array() || !event || !event->is_string() || !data) return;
    std::vector<std::string> r;
    for (const auto& room : rooms->as_array()) {
      if (room.is_string()) r.emplace_back(room.as_string());
    }
    hub_->Emit(std::move(r), std::string(event->as_string()), *data);
  } else if (k == "s") {
    const json::value* sid = m.if_contains("sid");
    const json::value* doc = m.if_contains("doc");
    if (!sid || !sid->is_string()) return;
    const std::string id(sid->as_string());
    sessions_->Invalidate(id);
    session::SessionPtr session;
    if (doc && doc->is_object()) {
      session =
          std::make_shared<session::Session>(session::Session::FromDocument(store::Document{id, doc->as_object()}));
    }
    hub_->SessionChanged(id, std::move(session));
  } else if (k == "a") {
    sessions_->InvalidateAll();  // that node lost a session change: nothing cached here is trusted
  } else if (k == "r") {
    if (on_reload_) on_reload_();
  }
}

}  // namespace dpd::realtime
