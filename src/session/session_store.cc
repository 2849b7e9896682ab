#include "session/session_store.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "base/log.h"
#include "base/random.h"

namespace dpd::session {
namespace {

constexpr std::size_t kIdHexChars = 128;
constexpr std::size_t kMaxIdChars = 256;
constexpr std::int64_t kSweepEveryMs = 60 * 1000;
constexpr std::int64_t kSweepBatch = 1000;
constexpr int kSweepBatchesPerCall = 20;  // at most 20,000 expired records per Maintain() call

bool IsSessionId(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdChars) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

query::Filter Condition(std::string path, query::Op op, json::value operand) {
  query::Filter f;
  f.kind = query::Filter::Kind::kCondition;
  f.condition.path = std::move(path);
  f.condition.op = op;
  f.condition.operand = std::move(operand);
  f.condition.array_aware = false;
  return f;
}

std::int64_t NumberOf(const json::value* v) {
  if (v == nullptr || !v->is_number()) return 0;
  return static_cast<std::int64_t>(v->to_number<double>());
}

std::string StringOf(const json::value* v) { return v && v->is_string() ? std::string(v->as_string()) : ""; }

}  // namespace

json::object Session::ToFields() const {
  json::object out = extra;
  out["createdOn"] = created_on;
  out["lastActive"] = last_active;
  if (!path.empty()) out["path"] = path;
  if (!uid.empty()) out["uid"] = uid;
  if (!userhash.empty()) out["userhash"] = userhash;
  if (!rooms.empty()) out["_rooms"] = rooms;
  return out;
}

Session Session::FromDocument(const store::Document& doc) {
  Session s;
  s.id = doc.id;
  const json::object& f = doc.fields;
  s.created_on = NumberOf(f.if_contains("createdOn"));
  s.last_active = NumberOf(f.if_contains("lastActive"));
  s.path = StringOf(f.if_contains("path"));
  s.uid = StringOf(f.if_contains("uid"));
  s.userhash = StringOf(f.if_contains("userhash"));
  if (const json::value* r = f.if_contains("_rooms"); r && r->is_array()) s.rooms = r->as_array();
  for (const auto& kv : f) {
    const std::string_view k = kv.key();
    if (k == "createdOn" || k == "lastActive" || k == "path" || k == "uid" || k == "userhash" || k == "_rooms" ||
        k == "id" || k == "_id") {
      continue;
    }
    s.extra[k] = kv.value();
  }
  return s;
}

SessionStore::SessionStore(store::Store* store, const SessionOptions& options)
    : store_(store), options_(options), per_shard_(std::max<std::size_t>(1, options.cache_entries / kShards)) {}

Status SessionStore::Prepare() {
  return store_->Prepare(store::CollectionSpec{std::string(kCollection), {{"uid", false}}});
}

std::int64_t SessionStore::NowMs() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SessionStore::Shard& SessionStore::ShardOf(const std::string& sid) {
  return shards_[std::hash<std::string>{}(sid) % kShards];
}

void SessionStore::Cache(const SessionPtr& s, std::int64_t now) {
  Shard& shard = ShardOf(s->id);
  std::lock_guard lock(shard.mu);
  if (auto it = shard.index.find(s->id); it != shard.index.end()) {
    it->second->session = s;
    it->second->last_access = now;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return;
  }
  while (shard.index.size() >= per_shard_ && !shard.lru.empty()) {
    shard.index.erase(shard.lru.back().session->id);  // evicted: it stays in the store, read again on demand
    shard.lru.pop_back();
    evicted_.fetch_add(1, std::memory_order_relaxed);
  }
  shard.lru.push_front(Entry{s, now, false});
  shard.index.emplace(s->id, shard.lru.begin());
}

void SessionStore::Forget(const std::string& sid) {
  Shard& shard = ShardOf(sid);
  std::lock_guard lock(shard.mu);
  if (auto it = shard.index.find(sid); it != shard.index.end()) {
    shard.lru.erase(it->second);
    shard.index.erase(it);
  }
}

void SessionStore::Invalidate(const std::string& sid) { Forget(sid); }

void SessionStore::InvalidateAll() {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    shard.index.clear();
    shard.lru.clear();
    shard.dirty.clear();
  }
}

void SessionStore::InvalidateUser(const std::string& uid) {
  if (uid.empty()) return;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto it = shard.lru.begin(); it != shard.lru.end();) {
      if (it->session->uid == uid) {
        shard.index.erase(it->session->id);
        it = shard.lru.erase(it);
      } else {
        ++it;
      }
    }
  }
}

boost::asio::awaitable<SessionPtr> SessionStore::Find(const std::string& sid) {
  if (!IsSessionId(sid)) co_return nullptr;
  const std::int64_t now = NowMs();
  const std::int64_t max_age = options_.max_age.count();
  const bool bypass = bypassed();
  if (!bypass) {
    Shard& shard = ShardOf(sid);
    std::lock_guard lock(shard.mu);
    if (auto it = shard.index.find(sid); it != shard.index.end()) {
      Entry& e = *it->second;
      if (now - e.last_access > max_age) {
        shard.lru.erase(it->second);
        shard.index.erase(it);
        co_return nullptr;  // expired; Maintain removes the record
      }
      if (!e.dirty && now - e.session->last_active > options_.touch_interval.count()) {
        e.dirty = true;
        shard.dirty.push_back(sid);
      }
      e.last_access = now;
      shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
      co_return e.session;
    }
  }
  query::Query q;
  q.filter = Condition("id", query::Op::kEq, json::string(sid));
  q.id = sid;
  q.limit = 1;
  auto found = co_await store_->Find(kCollection, q, 1);
  if (!found.ok()) {
    spdlog::warn("session lookup failed: {}", found.status().message());
    co_return nullptr;
  }
  if (found->empty()) co_return nullptr;
  auto s = std::make_shared<Session>(Session::FromDocument((*found)[0]));
  if (s->last_active == 0 || now - s->last_active > max_age) co_return nullptr;  // expired (Deployd's rule)
  SessionPtr ptr = std::move(s);
  if (bypass) co_return ptr;
  Cache(ptr, now);
  if (now - ptr->last_active > options_.touch_interval.count()) {
    Shard& shard = ShardOf(sid);
    std::lock_guard lock(shard.mu);
    if (auto it = shard.index.find(sid); it != shard.index.end() && !it->second->dirty) {
      it->second->dirty = true;
      shard.dirty.push_back(sid);
    }
  }
  co_return ptr;
}

boost::asio::awaitable<Result<SessionPtr>> SessionStore::Create(const std::string& path, const std::string& uid,
                                                                const std::string& userhash) {
  auto s = std::make_shared<Session>();
  s->id = RandomHex(kIdHexChars / 2);
  s->created_on = s->last_active = NowMs();
  s->path = path;
  s->uid = uid;
  s->userhash = userhash;
  store::Document doc{s->id, s->ToFields()};
  Status st = co_await store_->Insert(kCollection, doc);
  if (!st.ok()) co_return st;
  SessionPtr ptr = std::move(s);
  Cache(ptr, ptr->last_active);
  created_.fetch_add(1, std::memory_order_relaxed);
  co_return ptr;
}

boost::asio::awaitable<Status> SessionStore::Save(const SessionPtr& session) {
  store::Document doc{session->id, session->ToFields()};
  Status st = co_await store_->Replace(kCollection, doc);
  if (st.code() == Code::kNotFound) st = co_await store_->Insert(kCollection, doc);
  if (st.ok()) {
    Cache(session, NowMs());
    Tell(session->id, session);
  }
  co_return st;
}

boost::asio::awaitable<Result<bool>> SessionStore::Remove(const std::string& sid) {
  Forget(sid);
  Tell(sid, nullptr);
  if (!IsSessionId(sid)) co_return false;
  std::vector<std::string> ids;  // a named vector: GCC 12 miscompiles a braced temporary here
  ids.push_back(sid);
  auto n = co_await store_->Remove(kCollection, ids);
  if (!n.ok()) co_return n.status();
  ended_.fetch_add(static_cast<std::uint64_t>(*n), std::memory_order_relaxed);
  co_return *n > 0;
}

boost::asio::awaitable<Result<std::int64_t>> SessionStore::RemoveUser(const std::string& uid) {
  std::int64_t removed = 0;
  for (;;) {
    query::Query q;
    q.filter = Condition("uid", query::Op::kEq, json::string(uid));
    q.limit = kSweepBatch;
    auto found = co_await store_->Find(kCollection, q, kSweepBatch);
    if (!found.ok()) co_return found.status();
    if (found->empty()) break;
    std::vector<std::string> ids;
    for (const auto& d : *found) {
      Forget(d.id);
      Tell(d.id, nullptr);
      ids.push_back(d.id);
    }
    auto n = co_await store_->Remove(kCollection, ids);
    if (!n.ok()) co_return n.status();
    removed += *n;
    ended_.fetch_add(static_cast<std::uint64_t>(*n), std::memory_order_relaxed);
    if (static_cast<std::int64_t>(found->size()) < kSweepBatch) break;
  }
  co_return removed;
}

boost::asio::awaitable<void> SessionStore::Maintain() {
  const std::int64_t now = NowMs();
  const std::int64_t max_age = options_.max_age.count();
  // 1. The cache: expired entries are at the LRU tail; pending lastActive values are collected.
  std::vector<SessionPtr> touched;
  std::size_t expired_in_cache = 0;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    while (!shard.lru.empty() && now - shard.lru.back().last_access > max_age) {
      Tell(shard.lru.back().session->id, nullptr);
      shard.index.erase(shard.lru.back().session->id);
      shard.lru.pop_back();
      ++expired_in_cache;
    }
    for (const std::string& sid : shard.dirty) {
      auto it = shard.index.find(sid);
      if (it == shard.index.end() || !it->second->dirty) continue;
      Entry& e = *it->second;
      auto updated = std::make_shared<Session>(*e.session);
      updated->last_active = e.last_access;
      e.session = updated;
      e.dirty = false;
      touched.push_back(std::move(updated));
    }
    shard.dirty.clear();
  }
  // 2. lastActive, in one batch (the SQLite writer commits concurrent writes together).
  for (const SessionPtr& s : touched) {
    store::Document doc{s->id, s->ToFields()};
    Status st = co_await store_->Replace(kCollection, doc);
    if (!st.ok() && st.code() != Code::kNotFound) spdlog::warn("session lastActive not written: {}", st.message());
  }
  expired_.fetch_add(expired_in_cache, std::memory_order_relaxed);
  if (expired_in_cache > 1000) malloc_trim(0);  // give a large expiry back to the system
  // 3. The store: expired records, once a minute — or on every call while a backlog remains (bounded per call).
  {
    std::lock_guard lock(sweep_mu_);
    if (!sweep_backlog_ && now - last_sweep_ < kSweepEveryMs) co_return;
    last_sweep_ = now;
    sweep_backlog_ = false;
  }
  std::int64_t total = 0;
  const auto sweep_started = std::chrono::steady_clock::now();
  for (int batch = 0; batch < kSweepBatchesPerCall; ++batch) {
    query::Query q;
    q.filter = Condition("lastActive", query::Op::kLt, json::value(now - max_age));
    q.limit = kSweepBatch;
    auto found = co_await store_->Find(kCollection, q, kSweepBatch);
    if (!found.ok() || found->empty()) break;
    std::vector<std::string> ids;
    for (const auto& d : *found) ids.push_back(d.id);
    auto n = co_await store_->Remove(kCollection, ids);
    if (!n.ok()) break;
    total += *n;
    if (static_cast<std::int64_t>(found->size()) < kSweepBatch) break;
    if (batch + 1 == kSweepBatchesPerCall) {
      std::lock_guard lock(sweep_mu_);
      sweep_backlog_ = true;
    }
  }
  swept_.fetch_add(static_cast<std::uint64_t>(total), std::memory_order_relaxed);
  sweeps_.fetch_add(1, std::memory_order_relaxed);
  sweep_ns_.fetch_add(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                     std::chrono::steady_clock::now() - sweep_started)
                                                     .count()),
                      std::memory_order_relaxed);
  if (total > 0) spdlog::info("expired sessions removed count={}", total);
}

SessionStore::Figures SessionStore::figures() const {
  Figures f;
  f.created = created_.load(std::memory_order_relaxed);
  f.ended = ended_.load(std::memory_order_relaxed);
  f.evicted = evicted_.load(std::memory_order_relaxed);
  f.expired = expired_.load(std::memory_order_relaxed);
  f.swept = swept_.load(std::memory_order_relaxed);
  f.sweeps = sweeps_.load(std::memory_order_relaxed);
  f.sweep_seconds = static_cast<double>(sweep_ns_.load(std::memory_order_relaxed)) / 1e9;
  return f;
}

std::size_t SessionStore::cached() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.index.size();
  }
  return n;
}

}  // namespace dpd::session
