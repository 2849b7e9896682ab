#include "store/sqlite/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "query/matcher.h"
#include "query/regex.h"
#include "store/sqlite/sql_builder.h"

namespace dpd::store::sqlite {
namespace asio = boost::asio;
namespace {

// dpd_regexp(pattern, options, value): RE2 search, the compiled pattern cached per statement (auxdata).
void RegexpFunction(sqlite3_context* ctx, int, sqlite3_value** argv) {
  using Holder = std::shared_ptr<const query::Regex>;
  if (sqlite3_value_type(argv[2]) != SQLITE_TEXT) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  Holder re;
  if (auto* cached = static_cast<Holder*>(sqlite3_get_auxdata(ctx, 0))) {
    re = *cached;
  } else {
    const char* pattern = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
    const char* options = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
    auto compiled = query::Regex::Compile(pattern ? pattern : "", options ? options : "", SIZE_MAX);
    if (!compiled.ok()) {
      sqlite3_result_error(ctx, "invalid regex", -1);
      return;
    }
    re = *compiled;
    // SQLite keeps the compiled pattern for the rest of the statement (or frees it at once; `re` stays valid).
    sqlite3_set_auxdata(ctx, 0, new Holder(re), [](void* p) { delete static_cast<Holder*>(p); });
  }
  const char* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[2]));
  int n = sqlite3_value_bytes(argv[2]);
  sqlite3_result_int(ctx, re->Search(std::string_view(text ? text : "", static_cast<std::size_t>(n))));
}

// One SQLite connection with its prepared-statement cache. Used by one thread at a time.
class Connection {
 public:
  using Clock = std::chrono::steady_clock;
  Connection(sqlite3* db, std::size_t cache_size) : db_(db), cache_size_(cache_size) {}

  // A read's time budget: SQLite calls the progress handler every few thousand VM steps and the statement is
  // interrupted (SQLITE_INTERRUPT) once the deadline has passed. Arm before stepping, Disarm after.
  // `client_fd` (>= 0): the read also stops once that client has closed its connection (checked every 20 ms).
  void Arm(std::chrono::milliseconds budget, int client_fd = -1) {
    if (budget.count() <= 0) return;
    deadline_ = Clock::now() + budget;
    client_fd_ = client_fd;
    next_client_check_ = Clock::now() + std::chrono::milliseconds(20);
    client_gone_ = false;
    if (!handler_set_) {
      sqlite3_progress_handler(db_, 4000, &Connection::OnProgress, this);
      handler_set_ = true;
    }
  }
  void Disarm() {
    deadline_ = Clock::time_point::max();
    client_fd_ = -1;
  }
  bool Expired() {
    const auto now = Clock::now();
    if (now > deadline_) return true;
    if (client_fd_ >= 0 && now >= next_client_check_) {
      next_client_check_ = now + std::chrono::milliseconds(20);
      char byte;
      // 0: the client closed its side (an orderly FIN); data or EAGAIN: still there. Nothing is consumed.
      if (::recv(client_fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) client_gone_ = true;
    }
    return client_gone_;
  }
  ~Connection() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  sqlite3* db() const { return db_; }

  Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = err ? err : "sqlite error";
      sqlite3_free(err);
      return Status::Unavailable("store: " + message);
    }
    return Status::Ok();
  }

  // "wal", "delete", …: the journal mode the file is in (PRAGMA journal_mode=WAL leaves it unchanged where WAL cannot
  // be used), "" on an error.
  std::string JournalMode() {
    std::string mode;
    sqlite3_exec(
        db_, "PRAGMA journal_mode",
        [](void* out, int n, char** values, char**) {
          if (n > 0 && values[0] != nullptr) *static_cast<std::string*>(out) = values[0];
          return 0;
        },
        &mode, nullptr);
    return mode;
  }

  // Drops every cached statement (their plans were made with statistics that have since changed).
  void ClearCache() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    cache_.clear();
  }
  // The store's analyses() when this connection was opened: a read-only connection cannot reload the statistics
  // itself ("ANALYZE sqlite_schema" counts as a write), so it is replaced once they changed.
  std::uint64_t statistics_seen = 0;

  // A read transaction kept open from one read to the next (SqliteStore::Impl::Reader): the store's commit count
  // when it began, and when that was. `held` is false when reads run one statement each (autocommit).
  bool held = false;
  bool release_posted = false;
  std::uint64_t held_commits = 0;
  Clock::time_point held_since;

  // Opens the held transaction (its snapshot is taken by the first read in it).
  bool BeginHeld(std::uint64_t commits) {
    if (!Step("BEGIN")) return false;
    held = true;
    held_commits = commits;
    held_since = Clock::now();
    return true;
  }
  // Ends it, or any transaction left open (SQLite may already have ended it: an interrupted statement can). A
  // statement a read left unfinished (an error, a budget stop) is reset first, so the COMMIT cannot fail on it.
  void EndHeld() {
    held = false;
    if (sqlite3_get_autocommit(db_)) return;
    for (sqlite3_stmt* p = sqlite3_next_stmt(db_, nullptr); p != nullptr; p = sqlite3_next_stmt(db_, p)) {
      if (sqlite3_stmt_busy(p)) sqlite3_reset(p);
    }
    if (!Step("COMMIT")) Step("ROLLBACK");
  }

  // A prepared statement, reset and with bindings cleared, owned by the cache.
  Result<sqlite3_stmt*> Prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) {
      sqlite3_reset(it->second);
      sqlite3_clear_bindings(it->second);
      return it->second;
    }
    if (cache_.size() >= cache_size_) ClearCache();
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
        SQLITE_OK) {
      std::string message = sqlite3_errmsg(db_);
      // A missing table means an empty collection (it is created at start-up; a renamed resource may lag).
      if (message.rfind("no such table", 0) == 0) return Status::NotFound(message);
      return Status::Internal("store: " + message);
    }
    cache_.emplace(sql, stmt);
    return stmt;
  }

  // The status of a read that did not end in SQLITE_DONE / SQLITE_ROW.
  Status ReadError(int rc, std::chrono::milliseconds budget) const {
    if (rc == SQLITE_INTERRUPT && client_gone_) {
      return Status::OverBudget("the client went away");
    }
    if (rc == SQLITE_INTERRUPT) {
      return Status::OverBudget("the query took longer than " + std::to_string(budget.count()) + " ms");
    }
    return Status::Unavailable(std::string("store: ") + sqlite3_errmsg(db_));
  }

  // Runs a cached statement without results (BEGIN / COMMIT): no parsing per call, unlike Exec.
  bool Step(const std::string& sql) {
    auto stmt = Prepare(sql);
    if (!stmt.ok()) return false;
    const int rc = sqlite3_step(*stmt);
    sqlite3_reset(*stmt);
    return rc == SQLITE_DONE;
  }

  // Binds `params` in order. Strings are bound in place (no copy): `params` must outlive the statement's steps,
  // hence no temporaries (the overload below).
  static Status Bind(sqlite3_stmt* stmt, std::vector<json::value>&& params) = delete;
  static Status Bind(sqlite3_stmt* stmt, const std::vector<json::value>& params) {
    int i = 1;
    for (const auto& p : params) {
      int rc;
      if (p.is_string()) {
        // SQLITE_STATIC: `params` outlives every step of the statement (the next Prepare clears the bindings).
        rc = sqlite3_bind_text(stmt, i, p.get_string().data(), static_cast<int>(p.get_string().size()), SQLITE_STATIC);
      } else if (p.is_int64()) {
        rc = sqlite3_bind_int64(stmt, i, p.get_int64());
      } else if (p.is_uint64()) {
        rc = sqlite3_bind_double(stmt, i, static_cast<double>(p.get_uint64()));
      } else if (p.is_double()) {
        rc = sqlite3_bind_double(stmt, i, p.get_double());
      } else if (p.is_bool()) {
        rc = sqlite3_bind_int(stmt, i, p.get_bool() ? 1 : 0);
      } else if (p.is_null()) {
        rc = sqlite3_bind_null(stmt, i);
      } else {
        std::string text = json::Write(p);
        rc = sqlite3_bind_text(stmt, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      }
      if (rc != SQLITE_OK) return Status::Internal("store: bind failed");
      ++i;
    }
    return Status::Ok();
  }

 private:
  static int OnProgress(void* self) { return static_cast<Connection*>(self)->Expired() ? 1 : 0; }

  sqlite3* db_;
  std::size_t cache_size_;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point next_client_check_;
  int client_fd_ = -1;
  bool client_gone_ = false;
  bool handler_set_ = false;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

Result<std::unique_ptr<Connection>> OpenConnection(const std::filesystem::path& file, bool writer,
                                                   const SqliteOptions& options) {
  // No memory statistics (nothing reads them): with them on, every allocation of every connection takes one
  // process-wide mutex, which the HTTP workers' readers contend for. Must precede SQLite's initialisation.
  static std::once_flag no_memstatus;
  std::call_once(no_memstatus, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
  if (sqlite3_open_v2(file.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Status::Unavailable("cannot open " + file.string() + ": " + message);
  }
  auto conn = std::make_unique<Connection>(db, options.statement_cache);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_create_function_v2(db, "dpd_regexp", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, RegexpFunction, nullptr,
                             nullptr, nullptr);
  if (writer) {
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA foreign_keys=OFF"}) {
      if (Status s = conn->Exec(pragma); !s.ok()) return s;
    }
    if (Status s = conn->Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        !s.ok()) {
      return s;
    }
  }
  return conn;
}

// A filter that evaluates a $regex: its cost per row is RE2's, far above an index lookup or a comparison.
bool HasRegex(const query::Filter& f) {
  if (f.kind == query::Filter::Kind::kCondition) {
    return f.condition.op == query::Op::kRegex || (f.condition.elem && HasRegex(*f.condition.elem));
  }
  for (const auto& c : f.children) {
    if (HasRegex(c)) return true;
  }
  return false;
}

struct WriteOp {
  enum class Kind { kInsert, kReplace, kRemove, kDrop, kPatch, kMove, kInsertMany } kind;
  std::string collection;
  std::string id;
  std::string doc;  // JSON text (kPatch: the document as written, filled in by the writer)
  std::vector<std::string> ids;
  std::function<void(Status, std::int64_t)> done;
  const Patch* patch = nullptr;  // kPatch; owned by the waiting caller
  const query::Filter* guard = nullptr;  // kRemove: only documents matching it; owned by the waiting caller
  std::vector<std::string> docs;         // kInsertMany: the JSON texts of `ids`, in order
};

// Document::stamp of a stored text (never 0).
std::uint64_t Stamp(std::string_view text) { return std::hash<std::string_view>{}(text) | 1; }

// `patch` applied to the fields of stored JSON text.
// `patch` applied to the fields of stored JSON text; false when its guard refuses the document before or after.
bool PatchedText(std::string_view text, const std::string& id, const Patch& patch, json::object& doc) {
  boost::system::error_code ec;
  json::value v = boost::json::parse(text, ec);
  doc = !ec && v.is_object() ? std::move(v.as_object()) : json::object();
  auto admitted = [&] {
    json::object with_id = doc;
    with_id["id"] = id;
    return query::Matches(*patch.guard, with_id);
  };
  if (patch.guard != nullptr && !admitted()) return false;
  ApplyPatch(patch, doc);
  return patch.guard == nullptr || admitted();
}

// Every thread's read connections, one per store (by instance).
thread_local std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> t_readers;

// Set while a read runs inline on the thread of a single-threaded io_context (an HTTP worker): such a read may keep
// its transaction open for the reads after it, and the end of it is posted to `executor`.
struct HoldScope {
  static thread_local const asio::any_io_executor* executor;
  explicit HoldScope(const asio::any_io_executor* ex) : previous(executor) { executor = ex; }
  ~HoldScope() { executor = previous; }
  const asio::any_io_executor* previous;
};
thread_local const asio::any_io_executor* HoldScope::executor = nullptr;

// Ends the held transaction of the connection `instance` has on this thread, if it still has one.
void ReleaseHeld(std::uint64_t instance) {
  auto it = t_readers.find(instance);
  if (it == t_readers.end()) return;
  it->second->release_posted = false;
  it->second->EndHeld();
}

}  // namespace

struct SqliteStore::Impl {
  SqliteOptions options;
  std::uint64_t instance = 0;  // distinguishes stores in the per-thread reader cache
  std::unique_ptr<Connection> writer;
  std::thread writer_thread;
  std::atomic<std::uint64_t> analyses{0};  // ANALYZE runs (planner statistics refreshed)
  std::atomic<std::uint64_t> commits{0};   // transactions this store wrote, counted before they are acknowledged
  // Held read snapshots keep the writer from restarting the write-ahead log (a reader on a snapshot pins the frames
  // after its mark), so under a steady mix of reads and writes the log grew to ~50 MB where per-statement reads
  // keep it at ~5 MB (bench W6, 20 s). A commit that leaves kHoldFrames frames or more in the log sends reads back
  // to one statement each for kHoldPause, so a checkpoint can let the writer restart the log: its size stays
  // bounded. The pause runs out when the writes stop (no commit, no growth; held snapshots resume).
  static constexpr int kCheckpointFrames = 1000;  // SQLite's own wal_autocheckpoint default, which the hook replaces
  static constexpr int kHoldFrames = 2048;        // 8 MiB of 4 KiB pages
  static constexpr std::chrono::milliseconds kHoldPause{100};
  std::atomic<std::int64_t> holds_paused_until{0};  // steady_clock, ns since its epoch; 0: not paused

  static std::int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Connection::Clock::now().time_since_epoch()).count();
  }
  bool HoldsPaused() const {
    const std::int64_t until = holds_paused_until.load(std::memory_order_relaxed);
    return until != 0 && NowNs() < until;
  }
  // After each commit of the writer connection, with the frames now in the log.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames) {
    auto& im = *static_cast<Impl*>(self);
    if (frames >= kHoldFrames) {
      // The checkpoints of the checkpointer could not let the log restart (writes kept coming while they ran): this
      // one runs between two batches, copies what they left and lets the next batch restart the log.
      sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    } else if (frames >= kCheckpointFrames) {
      {
        std::lock_guard lock(im.checkpoint_mu);
        im.checkpoint_wanted = true;
      }
      im.checkpoint_cv.notify_one();
    }
    im.holds_paused_until.store(frames >= kHoldFrames ? NowNs() + std::chrono::nanoseconds(kHoldPause).count() : 0,
                                std::memory_order_relaxed);
    return SQLITE_OK;
  }

  // Checkpoints (copying the log's pages into the database file: a read and a write per page, and two syncs) run on
  // a thread and connection of their own, beside the writer: done by the writer, they had taken a third of its
  // system calls under W3. SQLite lets a PASSIVE checkpoint run while another connection writes.
  std::unique_ptr<Connection> checkpointer;
  std::thread checkpoint_thread;
  std::mutex checkpoint_mu;
  std::condition_variable checkpoint_cv;
  bool checkpoint_wanted = false;    // guarded by checkpoint_mu
  bool checkpoint_stopping = false;  // guarded by checkpoint_mu

  void CheckpointLoop() {
    std::unique_lock lock(checkpoint_mu);
    for (;;) {
      checkpoint_cv.wait(lock, [&] { return checkpoint_stopping || checkpoint_wanted; });
      if (checkpoint_stopping) return;
      checkpoint_wanted = false;
      lock.unlock();
      sqlite3_wal_checkpoint_v2(checkpointer->db(), "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      lock.lock();
    }
  }
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<WriteOp>> queue;  // guarded by mu
  bool stopping = false;                       // guarded by mu
  std::atomic<std::uint64_t> writes{0}, batches{0}, largest{0}, commit_ns{0}, syncs{0};

  // Pipelined durability (synchronous_full, the file in WAL mode). The writer connection commits with
  // synchronous=NORMAL: COMMIT appends the batch's frames to the log and returns without waiting for the disk. The
  // batch then goes to the syncer thread, which fdatasyncs the log and only after that answers its writes; meanwhile
  // the writer applies and commits the next batch, and one sync covers every batch committed before it began. An
  // acknowledged write is on disk exactly as with synchronous=FULL (SQLite's NORMAL mode still syncs the log before
  // each checkpoint and the database after it). What differs: a read can see a committed batch up to one sync before
  // its writers are answered (SQLite has no way to hide a commit from new readers until it is synced).
  struct Committed {
    std::uint64_t seq = 0;  // this batch's place in the order of commits
    std::vector<std::unique_ptr<WriteOp>> ops;
    std::vector<std::pair<Status, std::int64_t>> results;
  };
  // The log as dpd opened it; closed when the last sync using it has returned.
  struct LogFile {
    int fd = -1;
    dev_t dev = 0;
    ino_t ino = 0;
    ~LogFile() {
      if (fd >= 0) ::close(fd);
    }
  };
  // Syncs may overlap: a batch committed while a sync runs starts a sync of its own on the other syncer instead of
  // waiting for that one to return. A sync answers every batch committed before it began (fdatasync makes all that
  // was written before the call durable), whichever sync returns first.
  static constexpr int kSyncers = 2;
  bool pipelined = false;          // set by Open before the threads start
  std::filesystem::path log_path;  // <file>-wal
  std::vector<std::thread> syncer_threads;
  std::mutex sync_mu;
  std::condition_variable sync_cv;
  std::deque<Committed> unsynced;      // guarded by sync_mu; by seq
  std::uint64_t committed_seq = 0;     // guarded by sync_mu: the last batch handed over
  std::uint64_t sync_started_seq = 0;  // guarded by sync_mu: the last batch a sync already running covers
  bool sync_stopping = false;          // guarded by sync_mu
  std::shared_ptr<LogFile> log_file;   // guarded by sync_mu

  // The log's file, (re)opened when SQLite made a new one. Under sync_mu.
  Result<std::shared_ptr<LogFile>> OpenLog() {
    struct stat st {};
    if (::stat(log_path.c_str(), &st) != 0) return std::shared_ptr<LogFile>();  // none: see SyncLog
    if (log_file != nullptr && st.st_dev == log_file->dev && st.st_ino == log_file->ino) return log_file;
    auto file = std::make_shared<LogFile>();
    file->fd = ::open(log_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (file->fd < 0 || ::fstat(file->fd, &st) != 0) {
      return Status::Unavailable(std::string("store: cannot open the write-ahead log: ") + std::strerror(errno));
    }
    file->dev = st.st_dev;
    file->ino = st.st_ino;
    // A new log's name must reach the disk too: SQLite syncs the directory only at its own first sync of the log,
    // which synchronous=NORMAL defers to the first checkpoint.
    if (Status s = SyncFile(log_path.parent_path().empty() ? "." : log_path.parent_path(), true); !s.ok()) return s;
    log_file = file;
    return file;
  }
  // Makes everything written to `log` so far durable.
  Status SyncLog(const std::shared_ptr<LogFile>& log) {
    // No log: nothing SQLite wrote waits in one (it removes the log only when it has checkpointed all of it).
    if (log == nullptr) return SyncFile(options.file, false);
    if (::fdatasync(log->fd) != 0) {
      return Status::Unavailable(std::string("store: cannot sync the write-ahead log: ") + std::strerror(errno));
    }
    return Status::Ok();
  }
  static Status SyncFile(const std::filesystem::path& path, bool directory) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
    const bool ok = fd >= 0 && ::fsync(fd) == 0;
    const int error = errno;
    if (fd >= 0) ::close(fd);
    if (!ok) return Status::Unavailable("store: cannot sync " + path.string() + ": " + std::strerror(error));
    return Status::Ok();
  }

  void SyncerLoop() {
    std::vector<Committed> answer;
    std::unique_lock lock(sync_mu);
    for (;;) {
      sync_cv.wait(lock, [&] { return sync_stopping || committed_seq > sync_started_seq; });
      if (committed_seq == sync_started_seq) {
        if (sync_stopping) return;  // every batch is covered by a sync (a running one answers its own)
        continue;
      }
      const std::uint64_t target = committed_seq;
      sync_started_seq = target;
      auto log = OpenLog();
      lock.unlock();
      const auto started = std::chrono::steady_clock::now();
      const Status synced = log.ok() ? SyncLog(*log) : log.status();
      commit_ns += static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
      ++syncs;
      lock.lock();
      while (!unsynced.empty() && unsynced.front().seq <= target) {
        answer.push_back(std::move(unsynced.front()));
        unsynced.pop_front();
      }
      lock.unlock();
      for (auto& committed : answer) {
        for (std::size_t i = 0; i < committed.ops.size(); ++i) {
          if (synced.ok()) {
            committed.ops[i]->done(committed.results[i].first, committed.results[i].second);
          } else {
            committed.ops[i]->done(synced, 0);
          }
        }
      }
      answer.clear();
      lock.lock();
    }
  }
  // Reads that evaluate $regex run here, not on the HTTP worker that asked: however long they take (at most the
  // read budget), the workers keep answering everything else. Threads have their own read connections.
  std::unique_ptr<asio::thread_pool> slow_reads;

  // Runs `f` inline (the common case), or on the slow-read pool when `filter` is expensive.
  template <typename F>
  auto Read(const query::Filter& filter, F f) -> asio::awaitable<decltype(f())> {
    using R = decltype(f());
    if (!slow_reads || !HasRegex(filter)) {
      if (!options.hold_read_snapshots) co_return f();
      const asio::any_io_executor executor = co_await asio::this_coro::executor;
      // Only an io_context run by this thread: the posted end of the transaction must run where the connection lives.
      const auto* io = executor.target<asio::io_context::executor_type>();
      HoldScope scope(io != nullptr && io->running_in_this_thread() ? &executor : nullptr);
      co_return f();
    }
    co_return co_await asio::co_spawn(
        slow_reads->get_executor(), [&f]() -> asio::awaitable<R> { co_return f(); }, asio::use_awaitable);
  }

  // Runs `f` on the slow-read pool whatever it reads (an aggregation visits every matching document).
  template <typename F>
  auto ReadAlone(F f) -> asio::awaitable<decltype(f())> {
    using R = decltype(f());
    if (!slow_reads) co_return f();
    co_return co_await asio::co_spawn(
        slow_reads->get_executor(), [&f]() -> asio::awaitable<R> { co_return f(); }, asio::use_awaitable);
  }

  static std::atomic<std::uint64_t> next_instance;

  // This thread's read connection. Reads run one statement each (autocommit: SQLite takes and drops its WAL read
  // lock — fcntl calls under a process-wide mutex the workers contend for — around every one), except on an HTTP
  // worker when options.hold_read_snapshots: there the first read opens a transaction, the reads after it reuse its
  // snapshot, and it ends once the worker's ready handlers have run (a posted release), after kHeldAge, or at the
  // first read after a commit of this store — so a write acknowledged before a read began is always seen.
  static constexpr std::chrono::milliseconds kHeldAge{50};
  Connection* Reader() {
    const std::uint64_t generation = analyses.load(std::memory_order_acquire);
    auto it = t_readers.find(instance);
    if (it != t_readers.end() && it->second->statistics_seen != generation) {
      t_readers.erase(it);  // the writer analysed a collection since: a new connection plans with the new figures
      it = t_readers.end();
    }
    if (it == t_readers.end()) {
      auto conn = OpenConnection(options.file, false, options);
      if (!conn.ok()) return nullptr;
      (*conn)->statistics_seen = generation;
      it = t_readers.emplace(instance, std::move(*conn)).first;
    }
    Connection* conn = it->second.get();
    if (!options.hold_read_snapshots) return conn;
    const std::uint64_t committed = commits.load(std::memory_order_acquire);  // before the snapshot is taken
    if (conn->held ? conn->held_commits != committed || Connection::Clock::now() - conn->held_since > kHeldAge ||
                         sqlite3_get_autocommit(conn->db())
                   : !sqlite3_get_autocommit(conn->db())) {
      conn->EndHeld();
    }
    const asio::any_io_executor* executor = HoldScope::executor;
    if (!conn->held && executor != nullptr && !HoldsPaused() && conn->BeginHeld(committed) && !conn->release_posted) {
      conn->release_posted = true;
      asio::post(*executor, [instance = instance] { ReleaseHeld(instance); });
    }
    return conn;
  }

  void Enqueue(std::unique_ptr<WriteOp> op) {
    {
      std::lock_guard lock(mu);
      queue.push_back(std::move(op));
    }
    cv.notify_one();
  }

  // Runs one write inside the open transaction.
  std::pair<Status, std::int64_t> Apply(WriteOp& op) {
    const std::string table = QuoteIdent(op.collection);
    auto step = [&](const std::string& sql, const std::vector<json::value>& params) -> std::pair<Status, std::int64_t> {
      auto stmt = writer->Prepare(sql);
      if (!stmt.ok()) return {stmt.status(), 0};
      if (Status s = Connection::Bind(*stmt, params); !s.ok()) return {s, 0};
      int rc = sqlite3_step(*stmt);
      if (rc == SQLITE_DONE) return {Status::Ok(), sqlite3_changes64(writer->db())};
      std::string message = sqlite3_errmsg(writer->db());
      sqlite3_reset(*stmt);
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        // "UNIQUE constraint failed: index '<collection>__<property>'"
        std::string prefix = "index '" + op.collection + "__";
        std::size_t at = message.find(prefix);
        std::string property = at == std::string::npos ? "id" : message.substr(at + prefix.size());
        if (!property.empty() && property.back() == '\'') property.pop_back();
        return {DuplicateValue(property), 0};
      }
      return {Status::Unavailable("store: " + message), 0};
    };
    switch (op.kind) {
      case WriteOp::Kind::kInsert:
        return step("INSERT INTO " + table + "(id, doc) VALUES(?, ?)",
                    {json::value(json::string(op.id)), json::value(json::string(op.doc))});
      case WriteOp::Kind::kInsertMany:  // inside a savepoint (WriterLoop): a failure leaves none written
        for (std::size_t i = 0; i < op.ids.size(); ++i) {
          auto r = step("INSERT INTO " + table + "(id, doc) VALUES(?, ?)",
                        {json::value(json::string(op.ids[i])), json::value(json::string(op.docs[i]))});
          if (!r.first.ok()) return {r.first, static_cast<std::int64_t>(i)};
        }
        return {Status::Ok(), static_cast<std::int64_t>(op.ids.size())};
      case WriteOp::Kind::kReplace: {
        auto r = step("UPDATE " + table + " SET doc=? WHERE id=?",
                      {json::value(json::string(op.doc)), json::value(json::string(op.id))});
        if (r.first.ok() && r.second == 0) return {Status::NotFound("no such document"), 0};
        return r;
      }
      case WriteOp::Kind::kRemove: {
        std::int64_t total = 0;
        for (std::size_t i = 0; i < op.ids.size(); i += 500) {
          std::string sql = "DELETE FROM " + table + " WHERE id IN (";
          std::vector<json::value> params;
          for (std::size_t k = i; k < std::min(op.ids.size(), i + 500); ++k) {
            sql += params.empty() ? "?" : ",?";
            params.emplace_back(json::string(op.ids[k]));
          }
          sql += ")";
          if (op.guard != nullptr) {  // the ids, and of them only those the guard admits as they are now
            query::Filter both;
            query::Filter ids;
            ids.kind = query::Filter::Kind::kCondition;
            ids.condition.path = "id";
            ids.condition.op = query::Op::kIn;
            ids.condition.array_aware = false;
            json::array list;
            for (std::size_t k = i; k < std::min(op.ids.size(), i + 500); ++k) list.emplace_back(json::string(op.ids[k]));
            ids.condition.operand = std::move(list);
            both.children = {std::move(ids), *op.guard};
            auto built = BuildDelete(op.collection, both);
            if (!built.ok()) return {built.status(), 0};
            sql = std::move(built->text);
            params = std::move(built->params);
          }
          auto r = step(sql, params);
          if (!r.first.ok()) return r;
          total += r.second;
        }
        return {Status::Ok(), total};
      }
      case WriteOp::Kind::kDrop: return step("DELETE FROM " + table, {});
      case WriteOp::Kind::kMove: {
        // Every document of `collection` into `op.id` (created when missing), in this one savepoint; the source table
        // is left empty, as Drop leaves it. The target's indexes are made by its Prepare.
        auto exists = writer->Prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
        if (!exists.ok()) return {exists.status(), 0};
        const std::vector<json::value> name{json::value(json::string(op.collection))};  // bound, not copied: kept
        if (Status s = Connection::Bind(*exists, name); !s.ok()) return {s, 0};
        const bool found = sqlite3_step(*exists) == SQLITE_ROW;
        sqlite3_reset(*exists);
        if (!found) return {Status::Ok(), 0};
        const std::string target = QuoteIdent(op.id);
        auto created =
            step("CREATE TABLE IF NOT EXISTS " + target + " (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)", {});
        if (!created.first.ok()) return created;
        auto moved = step("INSERT OR REPLACE INTO " + target + "(id, doc) SELECT id, doc FROM " + table, {});
        if (!moved.first.ok()) return moved;
        auto emptied = step("DELETE FROM " + table, {});
        if (!emptied.first.ok()) return emptied;
        return moved;
      }
      case WriteOp::Kind::kPatch: {
        // Read and write inside the writer's transaction: no other write of this document can come between.
        auto select = writer->Prepare("SELECT doc FROM " + table + " WHERE id=?");
        if (!select.ok()) return {select.status(), 0};
        const std::vector<json::value> id{json::value(json::string(op.id))};  // bound, not copied: kept
        if (Status s = Connection::Bind(*select, id); !s.ok()) return {s, 0};
        const int rc = sqlite3_step(*select);
        if (rc != SQLITE_ROW) {
          sqlite3_reset(*select);
          if (rc == SQLITE_DONE) return {Status::NotFound("no such document"), 0};
          return {Status::Unavailable(std::string("store: ") + sqlite3_errmsg(writer->db())), 0};
        }
        std::string_view text(reinterpret_cast<const char*>(sqlite3_column_text(*select, 0)),
                              static_cast<std::size_t>(sqlite3_column_bytes(*select, 0)));
        // Unchanged since the caller read it: its own result stands (no parse here). Else re-apply to the new one.
        if (!op.patch->whole_json.empty() && op.patch->expected_stamp != 0 && Stamp(text) == op.patch->expected_stamp) {
          op.doc.clear();  // as given: the caller has it
        } else {
          json::object patched;
          if (!PatchedText(text, op.id, *op.patch, patched)) {
            sqlite3_reset(*select);
            return {Status(Code::kForbidden, "refused by the collection's rule"), 0};
          }
          op.doc = json::Write(patched);
        }
        sqlite3_reset(*select);
        const std::string& text_out = op.doc.empty() ? op.patch->whole_json : op.doc;
        return step("UPDATE " + table + " SET doc=? WHERE id=?",
                    {json::value(json::string(text_out)), json::value(json::string(op.id))});
      }
    }
    return {Status::Internal("unknown write"), 0};
  }

  void WriterLoop() {
    std::vector<std::unique_ptr<WriteOp>> batch;
    for (;;) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty() && stopping) return;
        while (!queue.empty() && batch.size() < options.max_batch) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      std::vector<std::pair<Status, std::int64_t>> results(batch.size());
      bool committed = false;
      Status begin = writer->Exec("BEGIN IMMEDIATE");
      if (begin.ok()) {
        for (std::size_t i = 0; i < batch.size(); ++i) {
          // A single statement that fails is undone by SQLite alone (the transaction goes on); only a
          // multi-statement remove needs a savepoint to stay all-or-nothing.
          const bool multi = (batch[i]->kind == WriteOp::Kind::kRemove && batch[i]->ids.size() > 500) ||
                             batch[i]->kind == WriteOp::Kind::kInsertMany;
          if (multi) writer->Exec("SAVEPOINT w");
          results[i] = Apply(*batch[i]);
          if (multi) {
            if (!results[i].first.ok()) writer->Exec("ROLLBACK TO w");
            writer->Exec("RELEASE w");
          }
        }
        const auto commit_started = std::chrono::steady_clock::now();
        Status commit = writer->Exec("COMMIT");
        if (!commit.ok()) {
          writer->Exec("ROLLBACK");
          for (auto& r : results) r = {commit, 0};
        } else {
          committed = true;
          commit_ns += static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - commit_started)
                  .count());
          ++batches;
          writes += batch.size();
          if (batch.size() > largest.load(std::memory_order_relaxed)) largest = batch.size();
        }
      } else {
        for (auto& r : results) r = {begin, 0};
      }
      for (const auto& op : batch) CountForStatistics(*op);
      commits.fetch_add(1, std::memory_order_release);  // held read snapshots older than this batch are dropped
      if (pipelined && committed) {
        // Answered by the syncer once the log is on disk; this thread goes on with the next batch.
        Committed done;
        done.ops = std::move(batch);
        done.results = std::move(results);
        {
          std::lock_guard lock(sync_mu);
          done.seq = ++committed_seq;
          unsynced.push_back(std::move(done));
        }
        sync_cv.notify_one();
      } else {
        // Answer only now: every write of the batch is durable (or failed), and no later read misses it.
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->done(results[i].first, results[i].second);
      }
      batch.clear();
      RefreshStatistics();
    }
  }

  // The query planner's statistics (sqlite_stat1), per collection. Without them SQLite guesses that an equality on
  // an indexed field matches ~10 rows, and so answers {"owner": X, $sort: {score: -1}, $limit: 20} by fetching every
  // document of X and sorting them, even when X owns half the collection and walking the score index would stop
  // after 40 rows (an owner rule made the W2 query 10× slower than without it). A collection is analysed again once
  // it has had kAnalyzeMinWrites writes and a quarter of its size since the last time: amortised, a few index reads
  // per write; on the writer thread between batches, so it never races a write.
  static constexpr std::int64_t kAnalyzeMinWrites = 1000;
  struct TableStatistics {
    std::int64_t rows = -1;  // at the last ANALYZE (-1: not looked up yet)
    std::int64_t writes = 0;  // since then
  };
  std::map<std::string, TableStatistics, std::less<>> statistics;  // writer thread only

  void CountForStatistics(const WriteOp& op) {
    switch (op.kind) {
      case WriteOp::Kind::kDrop: statistics.erase(op.collection); return;
      case WriteOp::Kind::kMove:
        statistics.erase(op.collection);
        statistics.erase(op.id);
        return;
      case WriteOp::Kind::kInsertMany:
      case WriteOp::Kind::kRemove:
        statistics[op.collection].writes += static_cast<std::int64_t>(std::max<std::size_t>(op.ids.size(), 1));
        return;
      default: statistics[op.collection].writes += 1;
    }
  }

  // The row count sqlite_stat1 holds for `table` (its first figure), or 0.
  std::int64_t AnalysedRows(const std::string& table) {
    auto stmt = writer->Prepare("SELECT stat FROM sqlite_stat1 WHERE tbl=? LIMIT 1");
    if (!stmt.ok()) return 0;
    sqlite3_bind_text(*stmt, 1, table.data(), static_cast<int>(table.size()), SQLITE_TRANSIENT);
    std::int64_t rows = 0;
    if (sqlite3_step(*stmt) == SQLITE_ROW) {
      const char* text = reinterpret_cast<const char*>(sqlite3_column_text(*stmt, 0));
      if (text != nullptr) rows = std::strtoll(text, nullptr, 10);
    }
    sqlite3_reset(*stmt);
    return rows;
  }

  void RefreshStatistics() {
    for (auto& [table, st] : statistics) {
      if (st.writes < kAnalyzeMinWrites) continue;
      if (st.rows < 0) st.rows = AnalysedRows(table);
      if (st.writes < st.rows / 4) continue;
      if (writer->Exec("ANALYZE " + QuoteIdent(table)).ok()) {
        writer->ClearCache();
        analyses.fetch_add(1, std::memory_order_release);  // readers reload the statistics at their next read
      }
      st.rows = AnalysedRows(table);
      st.writes = 0;
    }
  }

  // Queues a write and suspends the caller until its batch committed; resumes on the caller's executor.
  // Not a coroutine itself: the op travels as a unique_ptr, never as a coroutine parameter (GCC 12 mishandles
  // by-value class parameters of coroutines holding short strings).
  // `out`, when given, receives the op's `doc` as the writer left it (kPatch: the document as written).
  asio::awaitable<std::pair<Status, std::int64_t>> Submit(std::unique_ptr<WriteOp> op,
                                                          std::shared_ptr<std::string> out = nullptr) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(std::pair<Status, std::int64_t>)>(
        [this, op = std::move(op), out = std::move(out)](auto handler) mutable {
          auto executor = asio::get_associated_executor(handler);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          WriteOp* raw = op.get();
          op->done = [executor, shared, raw, out](Status s, std::int64_t n) {
            if (out) *out = std::move(raw->doc);
            asio::post(executor,
                       [shared, s = std::move(s), n]() mutable { (*shared)(std::make_pair(std::move(s), n)); });
          };
          Enqueue(std::move(op));
        },
        asio::use_awaitable);
  }

  // Runs the find and hands each row (id, doc text) to `row`.
  template <typename Row>
  Status RunFind(std::string_view collection, const query::Query& q, std::size_t default_limit, Row&& row) {
    auto sql = BuildFind(collection, q, default_limit);
    if (!sql.ok()) return sql.status();
    Connection* conn = Reader();
    if (conn == nullptr) return Status::Unavailable("store: cannot open a read connection");
    auto stmt = conn->Prepare(sql->text);
    if (!stmt.ok()) {
      if (stmt.status().code() == Code::kNotFound) return Status::Ok();  // no table yet: no documents
      return stmt.status();
    }
    if (Status s = Connection::Bind(*stmt, sql->params); !s.ok()) return s;
    int rc;
    conn->Arm(options.read_budget, q.client_fd);
    struct Disarm {
      Connection* c;
      ~Disarm() { c->Disarm(); }
    } disarm{conn};
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
      std::string_view id(reinterpret_cast<const char*>(sqlite3_column_text(*stmt, 0)),
                          static_cast<std::size_t>(sqlite3_column_bytes(*stmt, 0)));
      std::string_view text(reinterpret_cast<const char*>(sqlite3_column_text(*stmt, 1)),
                            static_cast<std::size_t>(sqlite3_column_bytes(*stmt, 1)));
      row(id, text);
    }
    sqlite3_reset(*stmt);
    if (rc != SQLITE_DONE) return conn->ReadError(rc, options.read_budget);
    return Status::Ok();
  }
};

std::atomic<std::uint64_t> SqliteStore::Impl::next_instance{1};

SqliteStore::SqliteStore() : impl_(std::make_unique<Impl>()) {}

SqliteStore::~SqliteStore() {
  impl_->slow_reads.reset();  // joins
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->writer_thread.joinable()) impl_->writer_thread.join();
  {
    std::lock_guard lock(impl_->sync_mu);
    impl_->sync_stopping = true;  // after the writer's last batch: the syncer answers it, then ends
  }
  impl_->sync_cv.notify_all();
  for (auto& t : impl_->syncer_threads) t.join();
  {
    std::lock_guard lock(impl_->checkpoint_mu);
    impl_->checkpoint_stopping = true;
  }
  impl_->checkpoint_cv.notify_all();
  if (impl_->checkpoint_thread.joinable()) impl_->checkpoint_thread.join();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(SqliteOptions options) {
  std::error_code ec;
  if (options.file.has_parent_path()) std::filesystem::create_directories(options.file.parent_path(), ec);
  std::unique_ptr<SqliteStore> store(new SqliteStore());
  auto& im = *store->impl_;
  im.options = std::move(options);
  im.instance = Impl::next_instance++;
  im.slow_reads = std::make_unique<asio::thread_pool>(std::max(1u, std::thread::hardware_concurrency()));
  auto writer = OpenConnection(im.options.file, true, im.options);
  if (!writer.ok()) return writer.status();
  im.writer = std::move(*writer);
  auto checkpointer = OpenConnection(im.options.file, true, im.options);
  if (!checkpointer.ok()) return checkpointer.status();
  im.checkpointer = std::move(*checkpointer);
  sqlite3_wal_hook(im.writer->db(), &Impl::OnWalCommit, &im);  // replaces SQLite's own checkpoints after a commit
  im.checkpoint_thread = std::thread([&im] { im.CheckpointLoop(); });
  if (im.options.synchronous_full && im.options.pipeline_sync && im.writer->JournalMode() == "wal") {
    if (Status s = im.writer->Exec("PRAGMA synchronous=NORMAL"); !s.ok()) return s;
    im.pipelined = true;
    const char* name = sqlite3_db_filename(im.writer->db(), "main");  // absolute
    im.log_path = std::string(name != nullptr && *name != '\0' ? name : im.options.file.c_str()) + "-wal";
    for (int i = 0; i < Impl::kSyncers; ++i) im.syncer_threads.emplace_back([&im] { im.SyncerLoop(); });
  }
  im.writer_thread = std::thread([&im] { im.WriterLoop(); });
  return store;
}

Status SqliteStore::Prepare(const CollectionSpec& spec) {
  // DDL on a connection of its own, at start-up before requests arrive (busy_timeout covers the writer).
  std::vector<std::string> statements;
  statements.push_back("CREATE TABLE IF NOT EXISTS " + QuoteIdent(spec.name) +
                       " (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL)");
  for (const auto& index : spec.indexes) {
    auto sql = BuildCreateIndex(spec.name, index);
    if (!sql.ok()) return sql.status();
    statements.push_back(*sql);
  }
  auto conn = OpenConnection(impl_->options.file, true, impl_->options);
  if (!conn.ok()) return conn.status();
  for (const auto& sql : statements) {
    if (Status s = (*conn)->Exec(sql); !s.ok()) {
      if (s.message().find("UNIQUE constraint failed") != std::string::npos) {
        return Status::BadRequest("cannot create the unique index on " + spec.name +
                                  ": existing documents share a value");
      }
      return s;
    }
  }
  impl_->commits.fetch_add(1, std::memory_order_release);  // new tables and indexes: no held snapshot hides them
  return Status::Ok();
}

asio::awaitable<Result<std::vector<Document>>> SqliteStore::Find(std::string_view collection, const query::Query& q,
                                                                 std::size_t default_limit) {
  std::vector<Document> out;
  Status s = co_await impl_->Read(q.filter, [&] {
    return impl_->RunFind(collection, q, default_limit, [&](std::string_view id, std::string_view text) {
      Document d;
      d.id = std::string(id);
      d.stamp = Stamp(text);
      boost::system::error_code ec;
      json::value v = boost::json::parse(text, ec);
      if (!ec && v.is_object()) d.fields = std::move(v.as_object());
      out.push_back(std::move(d));
    });
  });
  if (!s.ok()) co_return s;
  co_return out;
}

asio::awaitable<Result<std::vector<std::string>>> SqliteStore::FindJson(std::string_view collection,
                                                                        const query::Query& q,
                                                                        std::size_t default_limit) {
  std::vector<std::string> out;
  Status s = co_await impl_->Read(q.filter, [&] {
    return impl_->RunFind(collection, q, default_limit, [&](std::string_view id, std::string_view text) {
      // Stored text is our own compact JSON object without "id"; ids are hex, so no escaping is needed.
      std::string doc;
      doc.reserve(text.size() + id.size() + 10);
      if (text.size() <= 2) {
        doc = "{";
      } else {
        doc.append(text.substr(0, text.size() - 1));
        doc += ',';
      }
      doc += "\"id\":";
      doc += json::Write(json::value(json::string(id)));
      doc += '}';
      out.push_back(std::move(doc));
    });
  });
  if (!s.ok()) co_return s;
  co_return out;
}

asio::awaitable<Result<std::int64_t>> SqliteStore::Count(std::string_view collection, const query::Filter& filter) {
  co_return co_await impl_->Read(filter, [&] { return CountNow(collection, filter); });
}

Result<std::int64_t> SqliteStore::CountNow(std::string_view collection, const query::Filter& filter) {
  auto sql = BuildCount(collection, filter);
  if (!sql.ok()) return sql.status();
  Connection* conn = impl_->Reader();
  if (conn == nullptr) return Status::Unavailable("store: cannot open a read connection");
  auto stmt = conn->Prepare(sql->text);
  if (!stmt.ok()) return stmt.status().code() == Code::kNotFound ? Result<std::int64_t>(0) : stmt.status();
  if (Status s = Connection::Bind(*stmt, sql->params); !s.ok()) return s;
  std::int64_t n = 0;
  conn->Arm(impl_->options.read_budget);
  const int rc = sqlite3_step(*stmt);
  conn->Disarm();
  if (rc == SQLITE_ROW) n = sqlite3_column_int64(*stmt, 0);
  sqlite3_reset(*stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return conn->ReadError(rc, impl_->options.read_budget);
  return n;
}

namespace {

// A column of an aggregation row as JSON: integers as integers, integral reals too (a $sum of integers is one).
json::value ColumnValue(sqlite3_stmt* stmt, int col) {
  switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER: return sqlite3_column_int64(stmt, col);
    case SQLITE_FLOAT: {
      const double d = sqlite3_column_double(stmt, col);
      if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return static_cast<std::int64_t>(d);
      return d;
    }
    case SQLITE_TEXT:
      return json::string(std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(stmt, col)),
                                           static_cast<std::size_t>(sqlite3_column_bytes(stmt, col))));
    default: return nullptr;
  }
}

// A group key's value from its (rank, value) columns; nullopt when it is missing (left out of an object _id).
std::optional<json::value> KeyValue(sqlite3_stmt* stmt, int col) {
  const int rank = sqlite3_column_int(stmt, col);
  switch (rank) {
    case kMissing: return std::nullopt;
    case kNumber:
    case kString: return ColumnValue(stmt, col + 1);
    case kObject:
    case kArray: {
      boost::system::error_code ec;
      std::string_view text(reinterpret_cast<const char*>(sqlite3_column_text(stmt, col + 1)),
                            static_cast<std::size_t>(sqlite3_column_bytes(stmt, col + 1)));
      json::value v = boost::json::parse(text, ec);
      return ec ? json::value(nullptr) : v;
    }
    case kBoolean: return json::value(sqlite3_column_int(stmt, col + 1) != 0);
    default: return json::value(nullptr);
  }
}

}  // namespace

asio::awaitable<Result<json::array>> SqliteStore::Aggregate(std::string_view collection,
                                                            const query::Pipeline& pipeline) {
  co_return co_await impl_->ReadAlone([&] { return AggregateNow(collection, pipeline); });
}

Result<json::array> SqliteStore::AggregateNow(std::string_view collection, const query::Pipeline& p) {
  auto sql = BuildAggregate(collection, p);
  if (!sql.ok()) return sql.status();
  Connection* conn = impl_->Reader();
  if (conn == nullptr) return Status::Unavailable("store: cannot open a read connection");
  json::array out;
  auto stmt = conn->Prepare(sql->text);
  if (!stmt.ok()) return stmt.status().code() == Code::kNotFound ? Result<json::array>(out) : stmt.status();
  if (Status s = Connection::Bind(*stmt, sql->params); !s.ok()) return s;
  conn->Arm(impl_->options.read_budget);
  struct Disarm {
    Connection* c;
    ~Disarm() { c->Disarm(); }
  } disarm{conn};
  int rc;
  while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    if (out.size() >= p.max_groups) {
      sqlite3_reset(*stmt);
      return query::TooManyGroups(p.max_groups);
    }
    json::object group;
    int col = 0;
    if (p.keys.empty()) {
      group["_id"] = nullptr;
    } else if (!p.object_key) {
      group["_id"] = KeyValue(*stmt, 0).value_or(nullptr);
      col = 2;
    } else {
      json::object id;
      for (const auto& key : p.keys) {
        if (auto v = KeyValue(*stmt, col)) id[key.name] = std::move(*v);
        col += 2;
      }
      group["_id"] = std::move(id);
    }
    for (const auto& acc : p.outputs) group[acc.name] = ColumnValue(*stmt, col++);
    out.push_back(std::move(group));
  }
  sqlite3_reset(*stmt);
  if (rc != SQLITE_DONE) return conn->ReadError(rc, impl_->options.read_budget);
  return out;
}

asio::awaitable<Status> SqliteStore::Insert(std::string_view collection, const Document& doc) {
  auto op = std::make_unique<WriteOp>(
      WriteOp{WriteOp::Kind::kInsert, std::string(collection), doc.id, json::Write(doc.fields), {}, {}});
  auto [status, n] = co_await impl_->Submit(std::move(op));
  co_return status;
}

asio::awaitable<Status> SqliteStore::InsertMany(std::string_view collection, const std::vector<Document>& docs,
                                                std::size_t* failed) {
  if (docs.empty()) co_return Status::Ok();
  auto op = std::make_unique<WriteOp>(WriteOp{WriteOp::Kind::kInsertMany, std::string(collection), {}, {}, {}, {}});
  for (const auto& d : docs) {
    op->ids.push_back(d.id);
    op->docs.push_back(json::Write(d.fields));
  }
  auto [status, n] = co_await impl_->Submit(std::move(op));
  if (!status.ok() && failed != nullptr) *failed = static_cast<std::size_t>(n);
  co_return status;
}

asio::awaitable<Status> SqliteStore::Replace(std::string_view collection, const Document& doc) {
  auto op = std::make_unique<WriteOp>(
      WriteOp{WriteOp::Kind::kReplace, std::string(collection), doc.id, json::Write(doc.fields), {}, {}});
  auto [status, n] = co_await impl_->Submit(std::move(op));
  co_return status;
}

asio::awaitable<Result<std::optional<Document>>> SqliteStore::Update(std::string_view collection, const std::string& id,
                                                                     const Patch& patch) {
  auto op = std::make_unique<WriteOp>(WriteOp{WriteOp::Kind::kPatch, std::string(collection), id, {}, {}, {}, &patch});
  auto written = std::make_shared<std::string>();  // the document as the writer wrote it
  auto [status, n] = co_await impl_->Submit(std::move(op), written);
  if (!status.ok()) co_return status;
  if (written->empty()) co_return std::optional<Document>();  // whole_json was written as given
  Document d;
  d.id = id;
  boost::system::error_code ec;
  json::value v = boost::json::parse(*written, ec);
  if (!ec && v.is_object()) d.fields = std::move(v.as_object());
  co_return std::optional<Document>(std::move(d));
}

asio::awaitable<Result<std::int64_t>> SqliteStore::Remove(std::string_view collection,
                                                          const std::vector<std::string>& ids) {
  if (ids.empty()) co_return std::int64_t{0};
  auto op = std::make_unique<WriteOp>(WriteOp{WriteOp::Kind::kRemove, std::string(collection), {}, {}, ids, {}});
  auto [status, n] = co_await impl_->Submit(std::move(op));
  if (!status.ok()) co_return status;
  co_return n;
}

asio::awaitable<Result<std::int64_t>> SqliteStore::RemoveWhere(std::string_view collection,
                                                               const std::vector<std::string>& ids,
                                                               const query::Filter& guard) {
  if (ids.empty()) co_return std::int64_t{0};
  auto op = std::make_unique<WriteOp>(WriteOp{WriteOp::Kind::kRemove, std::string(collection), {}, {}, ids, {}});
  op->guard = &guard;
  auto [status, n] = co_await impl_->Submit(std::move(op));
  if (!status.ok()) co_return status;
  co_return n;
}

asio::awaitable<Status> SqliteStore::Drop(std::string_view collection) {
  auto op = std::make_unique<WriteOp>(WriteOp{WriteOp::Kind::kDrop, std::string(collection), {}, {}, {}, {}});
  auto [status, n] = co_await impl_->Submit(std::move(op));
  co_return status;
}

asio::awaitable<Status> SqliteStore::Rename(std::string_view from, std::string_view to) {
  auto op = std::make_unique<WriteOp>(WriteOp{WriteOp::Kind::kMove, std::string(from), std::string(to), {}, {}, {}});
  auto [status, n] = co_await impl_->Submit(std::move(op));
  co_return status;
}

Result<std::string> SqliteStore::ExplainFind(std::string_view collection, const query::Query& q) {
  auto sql = BuildFind(collection, q, 1000);
  if (!sql.ok()) return sql.status();
  Connection* conn = impl_->Reader();
  if (conn == nullptr) return Status::Unavailable("no reader");
  auto stmt = conn->Prepare("EXPLAIN QUERY PLAN " + sql->text);
  if (!stmt.ok()) return stmt.status();
  if (Status s = Connection::Bind(*stmt, sql->params); !s.ok()) return s;
  std::string plan;
  while (sqlite3_step(*stmt) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(*stmt, 3));
    plan += "\n";
  }
  sqlite3_reset(*stmt);
  return plan;
}

std::uint64_t SqliteStore::writes_committed() const { return impl_->writes.load(); }
std::uint64_t SqliteStore::analyses() const { return impl_->analyses.load(); }
std::uint64_t SqliteStore::batches_committed() const { return impl_->batches.load(); }

StoreStats SqliteStore::Stats() const {
  StoreStats s;
  StoreStats::GroupCommit g;
  g.batches = static_cast<std::int64_t>(impl_->batches.load());
  g.writes = static_cast<std::int64_t>(impl_->writes.load());
  g.largest = static_cast<std::int64_t>(impl_->largest.load());
  g.commit_seconds = static_cast<double>(impl_->commit_ns.load()) / 1e9;
  g.syncs = static_cast<std::int64_t>(impl_->pipelined ? impl_->syncs.load() : impl_->batches.load());
  s.group_commit = g;
  return s;
}

}  // namespace dpd::store::sqlite
