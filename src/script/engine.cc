#include "script/engine.h"

#include <node.h>
#include <v8.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "base/log.h"
#include "script/platform.h"
#include "script/prelude.js.h"

namespace dpd::script {
namespace {

// Node's platform (a v8::Platform that can also host Node.js environments, modules/host.h) and Node's per-process
// state, set up once for the whole process.
std::unique_ptr<node::MultiIsolatePlatform>& PlatformHolder() {
  static std::unique_ptr<node::MultiIsolatePlatform> platform;
  return platform;
}

// The compile-cache figures of one runtime: written by its thread only, read by CompileCacheFigures. Every
// runtime's stay in the list (their counts stay counted after the thread ends; a few per process).
struct CacheCounters {
  std::atomic<std::uint64_t> hits{0}, misses{0}, evictions{0};
  std::atomic<std::size_t> entries{0};
  std::atomic<std::uint64_t> calls{0}, run_ns{0};  // Run calls and their time on the thread
  std::atomic<std::size_t> heap_used{0};           // the isolate's used heap, sampled every 64 calls
  std::atomic<std::size_t> heap_physical{0};       // and the memory its heap holds from the system
};
std::mutex& CountersMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<std::shared_ptr<CacheCounters>>& CountersList() {
  static std::vector<std::shared_ptr<CacheCounters>> list;
  return list;
}
std::shared_ptr<CacheCounters> RegisterCounters() {
  auto c = std::make_shared<CacheCounters>();
  std::lock_guard lock(CountersMutex());
  CountersList().push_back(c);
  return c;
}

void InitializeV8() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Node's process-wide part (ICU, its option parser), without anything that belongs to dpd: no stdio, signal or
    // resource-limit changes, no NODE_OPTIONS, no command line — and without Node's OpenSSL set-up, which reads the
    // OpenSSL configuration and checks the CSPRNG eagerly (~85 ms of every start-up here); OpenSSL 3 initialises
    // itself on first use, so a resource module's crypto still works (tested).
    namespace pf = node::ProcessFlags;
    const auto flags = static_cast<pf::Flags>(
        pf::kNoInitializeV8 | pf::kNoInitializeNodeV8Platform | pf::kNoStdioInitialization |
        pf::kNoDefaultSignalHandling | pf::kDisableNodeOptionsEnv | pf::kDisableCLIOptions | pf::kNoAdjustResourceLimits |
        pf::kNoUseLargePages | pf::kNoPrintHelpOrVersionOutput | pf::kNoParseGlobalDebugVariables |
        pf::kNoInitOpenSSL);
    static std::unique_ptr<node::InitializationResult> result = node::InitializeOncePerProcess({"dpd"}, flags);
    for (const auto& e : result->errors()) spdlog::warn("node initialisation: {}", e);
    PlatformHolder() = node::MultiIsolatePlatform::Create(2);
    v8::V8::InitializePlatform(PlatformHolder().get());
    v8::V8::Initialize();
  });
}

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The foreground tasks V8 posts for one script isolate (GC steps, the memory reducer, compile finalisation). The
// runtime runs the due ones after each call, outside any script (RunDue); an idle isolate's tasks wait. A delegate
// rather than a libuv loop: the worker threads have none.
class ForegroundTasks final : public node::IsolatePlatformDelegate {
 public:
  class Runner final : public v8::TaskRunner {
   public:
    void PostTask(std::unique_ptr<v8::Task> task) override { Push(std::move(task), 0); }
    void PostNonNestableTask(std::unique_ptr<v8::Task> task) override { Push(std::move(task), 0); }
    void PostDelayedTask(std::unique_ptr<v8::Task> task, double delay) override { Push(std::move(task), delay); }
    void PostNonNestableDelayedTask(std::unique_ptr<v8::Task> task, double delay) override {
      Push(std::move(task), delay);
    }
    void PostIdleTask(std::unique_ptr<v8::IdleTask>) override {}  // IdleTasksEnabled() is false
    bool IdleTasksEnabled() override { return false; }
    bool NonNestableTasksEnabled() const override { return true; }
    bool NonNestableDelayedTasksEnabled() const override { return true; }

    // Runs the tasks due now; those they post wait for the next time. The caller has entered the isolate.
    void RunDue() {
      if (count_.load(std::memory_order_acquire) == 0) return;
      const double now = MonotonicSeconds();
      std::vector<std::unique_ptr<v8::Task>> due;
      {
        std::lock_guard lock(mu_);
        for (auto it = items_.begin(); it != items_.end();) {
          if (it->due <= now) {
            due.push_back(std::move(it->task));
            it = items_.erase(it);
          } else {
            ++it;
          }
        }
        count_.store(items_.size(), std::memory_order_release);
      }
      for (auto& t : due) t->Run();
    }
    void Clear() {
      std::lock_guard lock(mu_);
      items_.clear();
      count_.store(0, std::memory_order_release);
    }

   private:
    void Push(std::unique_ptr<v8::Task> task, double delay) {
      std::lock_guard lock(mu_);
      items_.push_back({MonotonicSeconds() + delay, std::move(task)});
      count_.store(items_.size(), std::memory_order_release);
    }
    struct Item {
      double due;
      std::unique_ptr<v8::Task> task;
    };
    std::mutex mu_;
    std::vector<Item> items_;  // guarded by mu_ (a few at a time: V8 posts GC and compiler steps)
    std::atomic<std::size_t> count_{0};
  };

  std::shared_ptr<v8::TaskRunner> GetForegroundTaskRunner() override { return runner_; }
  bool IdleTasksEnabled() override { return false; }
  Runner& runner() { return *runner_; }

 private:
  std::shared_ptr<Runner> runner_ = std::make_shared<Runner>();
};

// One thread for the whole process: stops calls that run past their deadline. Arming and disarming is an atomic
// store (a script call must not wake another thread), and the thread looks at the armed deadlines every kTick, so
// the wall-time limit holds to within kTick. TerminateExecution is one of the few V8 calls that may come from
// another thread.
class Watchdog {
 public:
  static constexpr std::chrono::milliseconds kTick{10};

  struct Slot {
    v8::Isolate* isolate = nullptr;
    std::atomic<std::int64_t> deadline_ns{0};  // steady_clock; 0 = not armed
    std::atomic<bool> fired{false};
  };

  static Watchdog& Get() {
    static Watchdog* dog = new Watchdog();  // lives for the process (threads may still use it at exit)
    return *dog;
  }

  void Register(Slot* slot) {
    std::lock_guard lock(mu_);
    slots_.push_back(slot);
  }
  void Unregister(Slot* slot) {
    std::lock_guard lock(mu_);
    slots_.erase(std::remove(slots_.begin(), slots_.end(), slot), slots_.end());
  }

  static std::int64_t Now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  Watchdog() : thread_([this] { Loop(); }) { thread_.detach(); }
  void Loop() {
    for (;;) {
      std::this_thread::sleep_for(kTick);
      std::lock_guard lock(mu_);
      const std::int64_t now = Now();
      for (Slot* s : slots_) {
        std::int64_t deadline = s->deadline_ns.load();
        // Taking the deadline (CAS to 0) decides the race with the call ending: whoever takes it owns the outcome.
        if (deadline != 0 && deadline <= now && s->deadline_ns.compare_exchange_strong(deadline, 0)) {
          s->isolate->TerminateExecution();
          s->fired.store(true);  // after TerminateExecution: the runner waits for this before cancelling it
        }
      }
    }
  }
  std::mutex mu_;
  std::vector<Slot*> slots_;  // guarded by mu_
  std::thread thread_;
};

std::string ToStd(v8::Isolate* isolate, v8::Local<v8::Value> v) {
  if (v->IsString()) {
    // The reports are JSON text, nearly always ASCII in a one-byte string: copied straight into the result (one
    // pass, one allocation) instead of measured, converted into Utf8Value's buffer and copied again.
    v8::Local<v8::String> str = v.As<v8::String>();
    const int n = str->Length();
    if (str->IsOneByte()) {
      std::string out(static_cast<std::size_t>(n), '\0');
      str->WriteOneByte(isolate, reinterpret_cast<std::uint8_t*>(out.data()), 0, n, v8::String::NO_NULL_TERMINATION);
      if (std::all_of(out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) return out;
    }
    std::string out(static_cast<std::size_t>(str->Utf8Length(isolate)), '\0');
    str->WriteUtf8(isolate, out.data(), static_cast<int>(out.size()), nullptr,
                   v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8);
    return out;
  }
  v8::String::Utf8Value s(isolate, v);
  return *s ? std::string(*s, static_cast<std::size_t>(s.length())) : std::string();
}

v8::Local<v8::String> V8Str(v8::Isolate* isolate, std::string_view s) {
  return v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal, static_cast<int>(s.size()))
      .ToLocalChecked();
}

bool IsIdentifierChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

// Values a helper reads (so they are injected when the helper is named even if the value itself is not).
bool NeededBy(const std::string& value, const std::function<bool(std::string_view)>& mentions) {
  if (value == "query") return mentions("query") || mentions("ctx");  // ctx.query is the same object
  if (value == "me") return mentions("me") || mentions("isMe");
  if (value == "previous") {
    return mentions("previous") || mentions("protect") || mentions("unprotect") || mentions("changed");
  }
  return mentions(value);
}

}  // namespace

node::MultiIsolatePlatform* SharedPlatform() {
  InitializeV8();
  return PlatformHolder().get();
}

bool MentionsName(std::string_view source, std::string_view name) {
  for (std::size_t pos = source.find(name); pos != std::string_view::npos; pos = source.find(name, pos + 1)) {
    const bool start_ok = pos == 0 || !IsIdentifierChar(source[pos - 1]);
    const std::size_t end = pos + name.size();
    const bool end_ok = end >= source.size() || !IsIdentifierChar(source[end]);
    if (start_ok && end_ok) return true;
  }
  return false;
}

bool NeedsValue(std::string_view source, std::string_view name) {
  return NeededBy(std::string(name), [source](std::string_view n) { return MentionsName(source, n); });
}

// One event call in progress: registered while its synchronous part runs, kept while dpd calls are outstanding.
struct PendingCall {
  std::uint64_t id = 0;
  std::string file;
  bool each = false;
  Invocation inv;
  std::unordered_map<std::uint64_t, v8::Global<v8::Promise::Resolver>> resolvers;  // dpd calls not answered yet
  std::optional<std::string> report;                                               // host.done arrived
  std::size_t emits = 0;
};

struct Runtime::Impl {
  ScriptLimits limits;
  v8::Isolate::CreateParams params;
  v8::Isolate* isolate = nullptr;
  ForegroundTasks tasks;  // V8's foreground tasks for `isolate`
  v8::Global<v8::Context> context;
  v8::Global<v8::Function> prelude;
  v8::Global<v8::Object> host;
  Watchdog::Slot watchdog;
  bool out_of_memory = false;
  bool in_v8 = false;  // inside an entry into V8: settlements are deferred, completions collected
  // V8 defers its full collection while the old generation has room under heap_bytes, so the strings JSON.parse
  // internalises for each document (and the pages holding them) pile up: RSS climbs for minutes, bounded but not
  // flat (the soak, docs/reliability-tests.md). Every kHeapCheckCalls calls the used heap is compared with the lowest
  // seen since the last nudge; once it has grown by a quarter of that (at least kHeapNudgeBytes), V8 is told of
  // moderate memory pressure, which starts an incremental, memory-reducing mark-compact — marked in small steps and
  // on V8's background threads, not one long pause on a request.
  static constexpr std::uint64_t kHeapCheckCalls = 512;
  static constexpr std::size_t kHeapNudgeBytes = 1024 * 1024;
  std::uint64_t calls_since_heap_check = 0;
  std::size_t heap_floor = 0;  // the lowest used heap seen since the last nudge (0: none yet)

  void MaybeNudgeGc() {
    if (++calls_since_heap_check < kHeapCheckCalls || in_v8) return;
    calls_since_heap_check = 0;
    v8::Isolate::Scope scope(isolate);
    v8::HeapStatistics heap;
    isolate->GetHeapStatistics(&heap);
    const std::size_t used = heap.used_heap_size();
    if (heap_floor == 0 || used < heap_floor) heap_floor = used;
    if (used >= heap_floor + std::max(heap_floor / 4, kHeapNudgeBytes)) {
      // On the isolate's own thread the notification starts the collection at once; the level is then cleared
      // again, or V8 would go on optimising for memory for good (smaller heap growth, collections at every step —
      // an allocating script then reaches its time limit before its heap limit).
      isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
      isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kNone);
      heap_floor = used;  // the checks after the collection find the new floor
    }
  }
  std::shared_ptr<CacheCounters> counters = RegisterCounters();  // read by CompileCacheFigures from any thread
  std::uint64_t next_call = 1, next_request = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<PendingCall>> calls;
  std::vector<std::uint64_t> done_ids;          // calls whose report arrived during the current entry
  std::vector<std::function<void()>> deferred;  // settlements that arrived inside V8
  // A compiled script: the function, and the injected names its source mentions (only those are built per call).
  struct Compiled {
    v8::Global<v8::Function> fn;
    v8::Global<v8::Array> used;          // their indexes in the parameter list, for the prelude
    std::vector<std::string> mentioned;  // the same names, for the values C++ serialises
  };
  // Compiled functions, most recently used first. They are found through the parameter-name list they were
  // compiled with (a NameSet, remembered by address for the common case of one static list) and their source, so
  // a cache hit allocates nothing.
  struct NameSet;
  struct LruEntry {
    NameSet* set;
    std::string source;
    std::string file;  // the file it was first compiled for
    Compiled compiled;
  };
  std::list<LruEntry> lru;
  struct NameSet {
    std::vector<std::string> names;
    v8::Global<v8::Value> array;  // the names as a frozen JS array (the prelude's `names`)
    std::unordered_map<std::string, std::list<LruEntry>::iterator> index;  // source → entry
    std::unordered_map<std::string, std::string> source_of_file;            // file → the source last compiled for it
  };
  std::list<NameSet> name_sets;
  const std::vector<std::string>* last_names = nullptr;
  NameSet* last_set = nullptr;
  // Per-call constants built once: the parameter-name arrays, the helper-flag objects and the dpd client lists.
  std::unordered_map<std::string, v8::Global<v8::Value>> client_lists;
  v8::Global<v8::Object> flag_objects[16];

  ~Impl() {
    if (watchdog.isolate != nullptr) Watchdog::Get().Unregister(&watchdog);
    Dispose();
  }

  void Dispose() {
    if (isolate == nullptr) return;
    calls.clear();
    lru.clear();
    counters->entries.store(0, std::memory_order_relaxed);
    name_sets.clear();
    last_names = nullptr;
    last_set = nullptr;
    client_lists.clear();
    for (auto& f : flag_objects) f.Reset();
    prelude.Reset();
    host.Reset();
    context.Reset();
    PlatformHolder()->UnregisterIsolate(isolate);
    isolate->Exit();
    isolate->Dispose();
    isolate = nullptr;
    tasks.runner().Clear();
    delete params.array_buffer_allocator;
    params.array_buffer_allocator = nullptr;
  }

  // V8's foreground tasks that are due, outside any call (a GC step, the memory reducer): without them V8 would
  // keep deferring work it scheduled, and the tasks would pile up.
  void RunTasks() {
    if (isolate == nullptr || in_v8) return;
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handles(isolate);
    v8::Context::Scope context_scope(context.Get(isolate));
    tasks.runner().RunDue();
  }

  static size_t NearHeapLimit(void* data, size_t current, size_t) {
    auto* self = static_cast<Impl*>(data);
    self->out_of_memory = true;
    self->isolate->TerminateExecution();
    return current + 32 * 1024 * 1024;  // room to unwind; this isolate is replaced after the call
  }

  static Impl* Self(const v8::FunctionCallbackInfo<v8::Value>& info) {
    return static_cast<Impl*>(info.Data().As<v8::External>()->Value());
  }
  PendingCall* Find(const v8::FunctionCallbackInfo<v8::Value>& info) {
    if (info.Length() < 1 || !info[0]->IsNumber()) return nullptr;
    auto it = calls.find(static_cast<std::uint64_t>(info[0].As<v8::Number>()->Value()));
    return it == calls.end() ? nullptr : it->second.get();
  }

  static void HostLog(const v8::FunctionCallbackInfo<v8::Value>& info) {
    PendingCall* call = Self(info)->Find(info);
    if (call && call->inv.log && info.Length() > 1) call->inv.log(ToStd(info.GetIsolate(), info[1]));
  }

  static void HostEmit(const v8::FunctionCallbackInfo<v8::Value>& info) {
    Impl* self = Self(info);
    PendingCall* call = self->Find(info);
    if (call && ++call->emits > self->limits.emits) {
      v8::Isolate* isolate = info.GetIsolate();
      isolate->ThrowException(v8::Exception::Error(V8Str(
          isolate, "emit: more than " + std::to_string(self->limits.emits) + " emits in one event (script.emits)")));
      return;
    }
    if (call && call->inv.emit && info.Length() > 1) {
      auto parsed = json::Parse(ToStd(info.GetIsolate(), info[1]));
      if (parsed.ok() && parsed->is_array()) call->inv.emit(parsed->as_array());
    }
  }

  static void HostDone(const v8::FunctionCallbackInfo<v8::Value>& info) {
    Impl* self = Self(info);
    PendingCall* call = self->Find(info);
    if (call == nullptr || info.Length() < 2 || call->report) return;
    call->report = ToStd(info.GetIsolate(), info[1]);
    self->done_ids.push_back(call->id);
  }

  // host.request(callId, method, path, queryText, bodyText) → a promise the host settles later (Settle).
  static void HostRequest(const v8::FunctionCallbackInfo<v8::Value>& info) {
    Impl* self = Self(info);
    v8::Isolate* isolate = info.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    v8::Local<v8::Promise::Resolver> resolver;
    if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return;
    info.GetReturnValue().Set(resolver->GetPromise());
    PendingCall* call = self->Find(info);
    auto reject = [&](std::string_view message) {
      resolver->Reject(ctx, v8::Exception::Error(V8Str(isolate, message))).Check();
    };
    if (call == nullptr || !call->inv.request || info.Length() < 5) return reject("dpd is not available here");
    script::HostRequest req;
    req.method = ToStd(isolate, info[1]);
    req.path = ToStd(isolate, info[2]);
    if (!info[3]->IsUndefined()) {
      auto q = json::Parse(ToStd(isolate, info[3]));
      if (!q.ok()) return reject("dpd: " + q.status().message());
      req.query = std::move(*q);
    }
    if (!info[4]->IsUndefined()) {
      auto b = json::Parse(ToStd(isolate, info[4]));
      if (!b.ok()) return reject("dpd: " + b.status().message());
      req.body = std::move(*b);
      req.has_body = true;
    }
    const std::uint64_t call_id = call->id;
    const std::uint64_t request_id = self->next_request++;
    call->resolvers.emplace(request_id, v8::Global<v8::Promise::Resolver>(isolate, resolver));
    call->inv.request(std::move(req), [self, call_id, request_id](script::HostResponse response) {
      self->Settle(call_id, request_id, std::move(response));
    });
  }

  void Create() {
    InitializeV8();
    params = v8::Isolate::CreateParams();
    params.array_buffer_allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
    params.constraints.ConfigureDefaultsFromHeapSize(0, limits.heap_bytes);
    isolate = v8::Isolate::Allocate();
    PlatformHolder()->RegisterIsolate(isolate, &tasks);
    v8::Isolate::Initialize(isolate, params);
    // Entered for good on its own thread: each Isolate::Scope after this only counts (entering an isolate the
    // thread is not in allocated V8's entry record — twice per call).
    isolate->Enter();
    isolate->AddNearHeapLimitCallback(&Impl::NearHeapLimit, this);
    // Promise jobs run where the runtime says (after each entry, under the watchdog), never behind its back.
    isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
    if (watchdog.isolate != nullptr) Watchdog::Get().Unregister(&watchdog);
    watchdog.isolate = isolate;
    Watchdog::Get().Register(&watchdog);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handles(isolate);
    v8::Local<v8::Context> ctx = v8::Context::New(isolate);
    v8::Context::Scope context_scope(ctx);
    context.Reset(isolate, ctx);
    auto compile = [&](const char* src) {
      v8::Local<v8::Script> s = v8::Script::Compile(ctx, V8Str(isolate, src)).ToLocalChecked();
      return s->Run(ctx).ToLocalChecked();
    };
    prelude.Reset(isolate, compile(kPrelude).As<v8::Function>());
    v8::Local<v8::Object> h = v8::Object::New(isolate);
    v8::Local<v8::External> me = v8::External::New(isolate, this);
    auto add = [&](const char* name, v8::FunctionCallback cb) {
      h->Set(ctx, V8Str(isolate, name), v8::Function::New(ctx, cb, me).ToLocalChecked()).Check();
    };
    add("log", &Impl::HostLog);
    add("emit", &Impl::HostEmit);
    add("done", &Impl::HostDone);
    add("request", &Impl::HostRequest);
    h->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen).Check();
    host.Reset(isolate, h);
    compile(kLockdown);
  }

  NameSet& SetFor(v8::Local<v8::Context> ctx, const std::vector<std::string>& names) {
    if (last_names == &names && last_set != nullptr && last_set->names == names) return *last_set;
    NameSet* found = nullptr;
    for (auto& set : name_sets) {
      if (set.names == names) found = &set;
    }
    if (found == nullptr) {
      NameSet& set = name_sets.emplace_back();
      set.names = names;
      v8::Local<v8::Array> arr = v8::Array::New(isolate, static_cast<int>(names.size()));
      for (std::size_t i = 0; i < names.size(); ++i) {
        arr->Set(ctx, static_cast<std::uint32_t>(i), V8Str(isolate, names[i])).Check();
      }
      arr->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen).Check();
      set.array.Reset(isolate, arr);
      found = &set;
    }
    last_names = &names;
    last_set = found;
    return *found;
  }

  // The compiled script for (names, source), compiling on a miss. Null with `error` set on a syntax error.
  const Compiled* Compile(v8::Local<v8::Context> ctx, const Program& program, const std::vector<std::string>& names,
                          std::string& error) {
    NameSet& set = SetFor(ctx, names);
    if (auto it = set.index.find(program.source); it != set.index.end()) {
      counters->hits.fetch_add(1, std::memory_order_relaxed);
      lru.splice(lru.begin(), lru, it->second);
      return &it->second->compiled;
    }
    counters->misses.fetch_add(1, std::memory_order_relaxed);
    v8::TryCatch try_catch(isolate);
    std::vector<v8::Local<v8::String>> params_v8;
    for (const auto& n : names) params_v8.push_back(V8Str(isolate, n));
    v8::ScriptOrigin origin(isolate, V8Str(isolate, program.file));
    v8::ScriptCompiler::Source source(V8Str(isolate, program.source), origin);
    v8::MaybeLocal<v8::Function> fn =
        v8::ScriptCompiler::CompileFunction(ctx, &source, params_v8.size(), params_v8.data(), 0, nullptr);
    if (fn.IsEmpty()) {
      v8::Local<v8::Message> m = try_catch.Message();
      int line = m.IsEmpty() ? 0 : m->GetLineNumber(ctx).FromMaybe(0);
      error = program.file + ":" + std::to_string(line) + ": " +
              (try_catch.HasCaught() ? ToStd(isolate, try_catch.Exception()) : std::string("compile error"));
      return nullptr;
    }
    Compiled compiled;
    compiled.fn.Reset(isolate, fn.ToLocalChecked());
    v8::Local<v8::Array> used = v8::Array::New(isolate);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!MentionsName(program.source, names[i])) continue;
      used->Set(ctx, static_cast<std::uint32_t>(compiled.mentioned.size()),
                v8::Integer::New(isolate, static_cast<int>(i)))
          .Check();
      compiled.mentioned.push_back(names[i]);
    }
    used->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen).Check();
    compiled.used.Reset(isolate, used);
    // A file compiled anew has changed (a reload): its earlier version is dead, so it goes now instead of
    // lingering until edits fill the cache to its limit. (A source shared by two files stays while the file that
    // first compiled it keeps it; at worst the other file compiles it again.)
    if (!program.file.empty()) {
      auto [prev, inserted] = set.source_of_file.try_emplace(program.file, program.source);
      if (!inserted && prev->second != program.source) {
        if (auto old = set.index.find(prev->second); old != set.index.end()) {
          lru.erase(old->second);
          set.index.erase(old);
          counters->evictions.fetch_add(1, std::memory_order_relaxed);
        }
        prev->second = program.source;
      }
    }
    lru.push_front(LruEntry{&set, program.source, program.file, std::move(compiled)});
    set.index[program.source] = lru.begin();
    while (lru.size() > limits.cache_entries) {
      NameSet* owner = lru.back().set;
      owner->index.erase(lru.back().source);
      if (auto f = owner->source_of_file.find(lru.back().file);
          f != owner->source_of_file.end() && f->second == lru.back().source) {
        owner->source_of_file.erase(f);
      }
      lru.pop_back();
      counters->evictions.fetch_add(1, std::memory_order_relaxed);
    }
    counters->entries.store(lru.size(), std::memory_order_relaxed);
    return &lru.front().compiled;
  }

  // How one entry into V8 ended.
  enum class Entry { kOk, kException, kTimeout, kOutOfMemory };

  // Runs `body` (which calls into V8 and may leave a value in `result`) and then the promise jobs it queued, under
  // the wall-time watchdog. Must be called inside the isolate/context scopes.
  template <typename Body>
  Entry Enter(Body&& body, v8::MaybeLocal<v8::Value>& result, std::string& exception) {
    in_v8 = true;
    watchdog.fired = false;
    const std::int64_t deadline =
        Watchdog::Now() + std::chrono::duration_cast<std::chrono::nanoseconds>(limits.wall_time).count();
    watchdog.deadline_ns = deadline;
    {
      v8::TryCatch try_catch(isolate);
      result = body();
      if (result.IsEmpty() && try_catch.HasCaught() && !try_catch.HasTerminated()) {
        exception = ToStd(isolate, try_catch.Exception());
      }
      if (!isolate->IsExecutionTerminating() && !out_of_memory) isolate->PerformMicrotaskCheckpoint();
    }
    std::int64_t expected = deadline;
    const bool timed_out = !watchdog.deadline_ns.compare_exchange_strong(expected, 0);
    if (timed_out) {
      // The watchdog took the deadline: wait until its TerminateExecution has happened, then clear it, so a late
      // termination can never hit the next entry.
      while (!watchdog.fired.load()) std::this_thread::yield();
    }
    if (timed_out || out_of_memory || isolate->IsExecutionTerminating()) isolate->CancelTerminateExecution();
    in_v8 = false;
    if (out_of_memory) return Entry::kOutOfMemory;
    if (timed_out) return Entry::kTimeout;
    return result.IsEmpty() ? Entry::kException : Entry::kOk;
  }

  static Outcome Failure(Outcome::Kind kind, std::string message) {
    Outcome o;
    o.kind = kind;
    o.message = std::move(message);
    return o;
  }
  static Outcome Stopped(Entry e, const std::string& file, const std::string& exception) {
    if (e == Entry::kOutOfMemory) return Failure(Outcome::Kind::kOutOfMemory, file + ": script ran out of memory");
    if (e == Entry::kTimeout) return Failure(Outcome::Kind::kTimeout, file + ": script timeout");
    return Failure(Outcome::Kind::kError, exception.empty() ? "script failed" : exception);
  }

  // After an out-of-memory stop: every call on this isolate fails and a fresh isolate takes over.
  void Replace(const std::string& file, std::vector<std::pair<std::function<void(Outcome)>, Outcome>>& failed,
               std::uint64_t except_id) {
    spdlog::warn("script isolate replaced after running out of memory file={}", file);
    for (auto& [id, call] : calls) {
      if (id == except_id || !call->inv.on_complete) continue;
      failed.emplace_back(std::move(call->inv.on_complete),
                          Failure(Outcome::Kind::kOutOfMemory, call->file + ": script isolate ran out of memory"));
    }
    Dispose();
    out_of_memory = false;
    Create();
  }

  // Delivers the calls that finished during the last entry, then the settlements deferred meanwhile.
  void Deliver(std::vector<std::pair<std::function<void(Outcome)>, Outcome>>& finished) {
    for (std::uint64_t id : done_ids) {
      auto it = calls.find(id);
      if (it == calls.end() || !it->second->report) continue;
      std::unique_ptr<PendingCall> call = std::move(it->second);
      calls.erase(it);
      if (call->inv.on_complete) {
        finished.emplace_back(std::move(call->inv.on_complete),
                              ReadReport(*call->report, call->each, call->file, call->inv.self));
      }
    }
    done_ids.clear();
    for (auto& [complete, outcome] : finished) complete(std::move(outcome));
    finished.clear();
    while (!deferred.empty()) {
      auto next = std::move(deferred.front());
      deferred.erase(deferred.begin());
      next();
    }
  }

  // A dpd call of call `call_id` was answered: settle its promise and run what follows.
  void Settle(std::uint64_t call_id, std::uint64_t request_id, script::HostResponse response) {
    if (in_v8) {
      deferred.push_back([this, call_id, request_id, r = std::move(response)]() mutable {
        Settle(call_id, request_id, std::move(r));
      });
      return;
    }
    auto it = calls.find(call_id);
    if (it == calls.end()) return;
    PendingCall& call = *it->second;
    auto rit = call.resolvers.find(request_id);
    if (rit == call.resolvers.end()) return;
    v8::Global<v8::Promise::Resolver> resolver_global = std::move(rit->second);
    call.resolvers.erase(rit);
    const std::string file = call.file;
    std::vector<std::pair<std::function<void(Outcome)>, Outcome>> finished;
    Entry entry;
    std::string exception;
    {
      v8::Isolate::Scope isolate_scope(isolate);
      v8::HandleScope handles(isolate);
      v8::Local<v8::Context> ctx = context.Get(isolate);
      v8::Context::Scope context_scope(ctx);
      v8::Local<v8::Promise::Resolver> resolver = resolver_global.Get(isolate);
      resolver_global.Reset();
      v8::MaybeLocal<v8::Value> result;
      entry = Enter(
          [&]() -> v8::MaybeLocal<v8::Value> {
            v8::Local<v8::Value> value = v8::Undefined(isolate);
            if (!response.body_json.empty()) {
              v8::Local<v8::Value> parsed;
              if (v8::JSON::Parse(ctx, V8Str(isolate, response.body_json)).ToLocal(&parsed)) value = parsed;
            }
            v8::Maybe<bool> done = response.ok ? resolver->Resolve(ctx, value) : resolver->Reject(ctx, value);
            if (done.IsNothing()) return {};
            return v8::MaybeLocal<v8::Value>(v8::True(isolate));
          },
          result, exception);
    }
    if (entry == Entry::kTimeout || entry == Entry::kOutOfMemory) {
      // The call whose callback ran too long (or ate the heap) fails; the others carry on (or, after an
      // out-of-memory stop, fail with it).
      if (auto c = calls.find(call_id); c != calls.end()) {
        std::unique_ptr<PendingCall> failed = std::move(c->second);
        calls.erase(c);
        if (failed->inv.on_complete)
          finished.emplace_back(std::move(failed->inv.on_complete), Stopped(entry, file, ""));
      }
      if (entry == Entry::kOutOfMemory) Replace(file, finished, call_id);
    }
    Deliver(finished);
  }

  // Reads the prelude's report of one call. `self` is the `this` the call was given: a single run whose report is
  // "=" left it unchanged, and it is moved into the outcome.
  static Outcome ReadReport(const std::string& text, bool each, const std::string& file, json::object& self) {
    Outcome out;
    if (each) {
      if (!text.empty() && text[0] == 'L') {
        out.list_json = text.substr(1);
        return out;
      }
      auto report = json::Parse(text.empty() ? std::string_view() : std::string_view(text).substr(1));
      if (!report.ok() || !report->is_object()) return Failure(Outcome::Kind::kError, file + ": unreadable result");
      ReadKind(report->as_object(), out);
      return out;
    }
    if (text == "=") {  // ok, nothing but `this` to report, and `this` unchanged
      out.self = std::move(self);
      return out;
    }
    if (!text.empty() && text[0] == 'O') {  // ok, nothing but `this` to report: its JSON follows
      auto changed = json::Parse(std::string_view(text).substr(1));
      if (!changed.ok() || !changed->is_object()) return Failure(Outcome::Kind::kError, file + ": unreadable result");
      out.self = std::move(changed->as_object());
      return out;
    }
    auto report = json::Parse(text);
    if (!report.ok() || !report->is_object()) return Failure(Outcome::Kind::kError, file + ": unreadable result");
    json::object& r = report->as_object();
    ReadKind(r, out);
    if (r["errors"].is_object()) out.errors = std::move(r["errors"].as_object());
    if (r["self"].is_object()) out.self = std::move(r["self"].as_object());
    if (const json::value* q = r.if_contains("query")) out.query = *q;
    if (const json::value* sc = r.if_contains("session")) out.session = *sc;
    for (const auto& h : r["hidden"].as_array()) out.hidden.emplace_back(h.as_string());
    for (const auto& p : r["protected"].as_array()) out.protected_fields.emplace_back(p.as_string());
    return out;
  }

  // Reads the prelude's report of one call (kind, message, status) into `out`.
  static void ReadKind(json::object& r, Outcome& out) {
    std::string_view kind = r["kind"].is_string() ? std::string_view(r["kind"].as_string()) : "error";
    out.kind = kind == "ok" ? Outcome::Kind::kOk : kind == "cancel" ? Outcome::Kind::kCancelled : Outcome::Kind::kError;
    if (r["message"].is_string()) out.message = std::string(r["message"].as_string());
    if (const json::value& st = r["status"]; st.is_number()) {
      out.status = static_cast<int>(st.to_number<double>());
      out.status_given = true;
    }
  }

  v8::Local<v8::Value> Cached(std::unordered_map<std::string, v8::Global<v8::Value>>& cache, v8::Local<v8::Context> ctx,
                              const std::string& json_text) {
    auto it = cache.find(json_text);
    if (it == cache.end()) {
      v8::Local<v8::Value> v = v8::JSON::Parse(ctx, V8Str(isolate, json_text)).ToLocalChecked();
      if (v->IsObject()) v.As<v8::Object>()->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen).Check();
      it = cache.emplace(json_text, v8::Global<v8::Value>(isolate, v)).first;
    }
    return it->second.Get(isolate);
  }

  v8::Local<v8::Object> Flags(v8::Local<v8::Context> ctx, const Invocation& inv) {
    const int i =
        (inv.allow_errors ? 1 : 0) | (inv.allow_hide ? 2 : 0) | (inv.allow_protect ? 4 : 0) | (inv.single ? 8 : 0);
    if (flag_objects[i].IsEmpty()) {
      v8::Local<v8::Object> f = v8::Object::New(isolate);
      f->Set(ctx, V8Str(isolate, "errors"), v8::Boolean::New(isolate, inv.allow_errors)).Check();
      f->Set(ctx, V8Str(isolate, "hide"), v8::Boolean::New(isolate, inv.allow_hide)).Check();
      f->Set(ctx, V8Str(isolate, "protect"), v8::Boolean::New(isolate, inv.allow_protect)).Check();
      f->Set(ctx, V8Str(isolate, "single"), v8::Boolean::New(isolate, inv.single)).Check();
      f->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen).Check();
      flag_objects[i].Reset(isolate, f);
    }
    return flag_objects[i].Get(isolate);
  }
};

Runtime::Runtime(const ScriptLimits& limits) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->Create();
}

Runtime::~Runtime() = default;

Runtime& Runtime::ForThisThread(const ScriptLimits& limits) {
  thread_local std::unique_ptr<Runtime> runtime;
  if (!runtime) runtime.reset(new Runtime(limits));
  return *runtime;
}

std::uint64_t Runtime::cache_hits() const { return impl_->counters->hits.load(std::memory_order_relaxed); }
std::uint64_t Runtime::cache_misses() const { return impl_->counters->misses.load(std::memory_order_relaxed); }

CacheFigures CompileCacheFigures() {
  CacheFigures f;
  std::lock_guard lock(CountersMutex());
  for (const auto& c : CountersList()) {
    f.hits += c->hits.load(std::memory_order_relaxed);
    f.misses += c->misses.load(std::memory_order_relaxed);
    f.evictions += c->evictions.load(std::memory_order_relaxed);
    f.entries += c->entries.load(std::memory_order_relaxed);
    f.calls += c->calls.load(std::memory_order_relaxed);
    f.run_seconds += static_cast<double>(c->run_ns.load(std::memory_order_relaxed)) / 1e9;
    f.heap_bytes += c->heap_used.load(std::memory_order_relaxed);
    f.heap_physical_bytes += c->heap_physical.load(std::memory_order_relaxed);
    ++f.runtimes;
  }
  return f;
}
std::size_t Runtime::pending_calls() const { return impl_->calls.size(); }

void Runtime::Abandon(std::uint64_t call_id) { impl_->calls.erase(call_id); }

Status Runtime::Check(const Program& program, const std::vector<std::string>& names) {
  Impl& im = *impl_;
  v8::Isolate::Scope isolate_scope(im.isolate);
  v8::HandleScope handles(im.isolate);
  v8::Local<v8::Context> ctx = im.context.Get(im.isolate);
  v8::Context::Scope context_scope(ctx);
  std::string error;
  if (im.Compile(ctx, program, names, error) == nullptr) return Status::BadRequest(error);
  return Status::Ok();
}

Outcome Runtime::Run(const Program& program, const std::vector<std::string>& names, Invocation inv) {
  Impl& im = *impl_;
#ifndef DPD_NO_METRICS
  // The call's time on this thread and, every 64 calls, the isolate's heap: read by CompileCacheFigures.
  struct Timed {
    Impl& im;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    ~Timed() {
      CacheCounters& c = *im.counters;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
      c.run_ns.fetch_add(static_cast<std::uint64_t>(ns.count()), std::memory_order_relaxed);
      if (c.calls.fetch_add(1, std::memory_order_relaxed) % 64 == 0 && !im.in_v8) {
        v8::Isolate::Scope scope(im.isolate);
        v8::HeapStatistics heap;
        im.isolate->GetHeapStatistics(&heap);
        c.heap_used.store(heap.used_heap_size(), std::memory_order_relaxed);
        c.heap_physical.store(heap.total_physical_size(), std::memory_order_relaxed);
      }
    }
  } timed{im};
#endif
  if (im.in_v8) {
    // A host function must never run a script inline (its caller is inside V8 on this thread).
    return Impl::Failure(Outcome::Kind::kError, program.file + ": script started from inside another script");
  }
  const std::uint64_t call_id = im.next_call++;
  const bool each = inv.documents_json != nullptr;
  std::string self_text = each ? std::string() : json::Write(inv.self);
  json::object self;  // inv.self back from the call, for a report that says it is unchanged
  Outcome out;
  std::string report;
  bool pending = false;
  Impl::Entry entry = Impl::Entry::kOk;
  std::string exception;
  std::vector<std::pair<std::function<void(Outcome)>, Outcome>> finished;
  {
    v8::Isolate::Scope isolate_scope(im.isolate);
    v8::HandleScope handles(im.isolate);
    v8::Local<v8::Context> ctx = im.context.Get(im.isolate);
    v8::Context::Scope context_scope(ctx);
    std::string error;
    const Impl::Compiled* compiled = im.Compile(ctx, program, names, error);
    if (compiled == nullptr) return Impl::Failure(Outcome::Kind::kError, error);
    v8::Local<v8::Function> fn = compiled->fn.Get(im.isolate);
    // Only the values the script can reach are serialised.
    auto mentions = [compiled](std::string_view n) {
      return std::find(compiled->mentioned.begin(), compiled->mentioned.end(), n) != compiled->mentioned.end();
    };
    json::object values;
    for (auto& [name, value] : inv.values) {
      if (NeededBy(name, mentions)) values[name] = std::move(value);
    }
    inv.values.clear();
    v8::Local<v8::Value> args[] = {
        fn,
        V8Str(im.isolate, each ? std::string_view(*inv.documents_json) : std::string_view(self_text)),
        values.empty() ? v8::Undefined(im.isolate).As<v8::Value>()
                       : V8Str(im.isolate, json::Write(values)).As<v8::Value>(),
        im.last_set->array.Get(im.isolate),
        im.Flags(ctx, inv),
        im.host.Get(im.isolate),
        v8::Boolean::New(im.isolate, each),
        v8::Number::New(im.isolate, static_cast<double>(call_id)),
        inv.clients_json ? im.Cached(im.client_lists, ctx, *inv.clients_json)
                         : v8::Undefined(im.isolate).As<v8::Value>(),
        compiled->used.Get(im.isolate),
    };
    auto call = std::make_unique<PendingCall>();
    call->id = call_id;
    call->file = program.file;
    call->each = each;
    call->inv = std::move(inv);
    PendingCall* registered = call.get();
    im.calls.emplace(call_id, std::move(call));
    v8::MaybeLocal<v8::Value> result;
    entry = im.Enter(
        [&] { return im.prelude.Get(im.isolate)->Call(ctx, v8::Undefined(im.isolate), std::size(args), args); }, result,
        exception);
    if (entry == Impl::Entry::kOk) {
      v8::Local<v8::Value> r = result.ToLocalChecked();
      if (r->IsString()) {
        report = ToStd(im.isolate, r);
      } else if (registered->report) {
        report = *registered->report;  // finished in the promise jobs that followed the body
      } else {
        pending = true;
      }
    }
    if (!pending) {
      im.done_ids.erase(std::remove(im.done_ids.begin(), im.done_ids.end(), call_id), im.done_ids.end());
      if (!each) self = std::move(registered->inv.self);
      im.calls.erase(call_id);
    }
  }
  if (entry == Impl::Entry::kOk) {
    if (pending) {
      out.kind = Outcome::Kind::kPending;
      out.call_id = call_id;
    } else {
      out = Impl::ReadReport(report, each, program.file, self);
    }
  } else {
    out = Impl::Stopped(entry, program.file, exception);
    if (entry == Impl::Entry::kOutOfMemory) im.Replace(program.file, finished, call_id);
  }
  im.Deliver(finished);
  im.RunTasks();
  im.MaybeNudgeGc();
  return out;
}

}  // namespace dpd::script
