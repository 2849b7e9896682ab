#include "script/engine.h"

#include <libplatform/libplatform.h>
#include <v8.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/log.h"
#include "script/prelude.js.h"

namespace dpd::script {
namespace {

std::unique_ptr<v8::Platform>& PlatformHolder() {
  static std::unique_ptr<v8::Platform> platform;
  return platform;
}

void InitializeV8() {
  static std::once_flag once;
  std::call_once(once, [] {
    PlatformHolder() = v8::platform::NewDefaultPlatform();
    v8::V8::InitializePlatform(PlatformHolder().get());
    v8::V8::Initialize();
  });
}

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
  v8::String::Utf8Value s(isolate, v);
  return *s ? std::string(*s, static_cast<std::size_t>(s.length())) : std::string();
}

v8::Local<v8::String> V8Str(v8::Isolate* isolate, std::string_view s) {
  return v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal, static_cast<int>(s.size()))
      .ToLocalChecked();
}

}  // namespace

struct Runtime::Impl {
  ScriptLimits limits;
  v8::Isolate::CreateParams params;
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  v8::Global<v8::Function> prelude;
  v8::Global<v8::Object> host;
  Invocation* current = nullptr;  // the call in progress (host functions report to it)
  Watchdog::Slot watchdog;
  bool out_of_memory = false;
  std::uint64_t hits = 0, misses = 0;
  // Compiled functions, most recently used first; key = parameter names + "\n" + source.
  std::list<std::pair<std::string, v8::Global<v8::Function>>> lru;
  std::unordered_map<std::string, decltype(lru)::iterator> index;
  // Per-call constants built once: the parameter-name arrays and the 8 helper-flag objects.
  std::unordered_map<std::string, v8::Global<v8::Value>> name_arrays;
  v8::Global<v8::Object> flag_objects[16];

  ~Impl() {
    if (watchdog.isolate != nullptr) Watchdog::Get().Unregister(&watchdog);
    Dispose();
  }

  void Dispose() {
    if (isolate == nullptr) return;
    lru.clear();
    index.clear();
    name_arrays.clear();
    for (auto& f : flag_objects) f.Reset();
    prelude.Reset();
    host.Reset();
    context.Reset();
    isolate->Dispose();
    isolate = nullptr;
    delete params.array_buffer_allocator;
    params.array_buffer_allocator = nullptr;
  }

  static size_t NearHeapLimit(void* data, size_t current, size_t) {
    auto* self = static_cast<Impl*>(data);
    self->out_of_memory = true;
    self->isolate->TerminateExecution();
    return current + 32 * 1024 * 1024;  // room to unwind; this isolate is replaced after the call
  }

  static void HostLog(const v8::FunctionCallbackInfo<v8::Value>& info) {
    auto* self = static_cast<Impl*>(info.Data().As<v8::External>()->Value());
    if (self->current && self->current->log && info.Length() > 0) {
      self->current->log(ToStd(info.GetIsolate(), info[0]));
    }
  }

  static void HostEmit(const v8::FunctionCallbackInfo<v8::Value>& info) {
    auto* self = static_cast<Impl*>(info.Data().As<v8::External>()->Value());
    if (self->current && self->current->emit && info.Length() > 0) {
      auto parsed = json::Parse(ToStd(info.GetIsolate(), info[0]));
      if (parsed.ok() && parsed->is_array()) self->current->emit(parsed->as_array());
    }
  }

  void Create() {
    InitializeV8();
    params = v8::Isolate::CreateParams();
    params.array_buffer_allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
    params.constraints.ConfigureDefaultsFromHeapSize(0, limits.heap_bytes);
    isolate = v8::Isolate::New(params);
    isolate->AddNearHeapLimitCallback(&Impl::NearHeapLimit, this);
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
    h->Set(ctx, V8Str(isolate, "log"), v8::Function::New(ctx, &Impl::HostLog, me).ToLocalChecked()).Check();
    h->Set(ctx, V8Str(isolate, "emit"), v8::Function::New(ctx, &Impl::HostEmit, me).ToLocalChecked()).Check();
    host.Reset(isolate, h);
    compile(kLockdown);
  }

  // The compiled function for (names, source), compiling on a miss. Empty with `error` set on a syntax error.
  v8::MaybeLocal<v8::Function> Compile(v8::Local<v8::Context> ctx, const Program& program,
                                       const std::vector<std::string>& names, std::string& error) {
    std::string key;
    for (const auto& n : names) key += n + ",";
    key += "\n" + program.source;
    if (auto it = index.find(key); it != index.end()) {
      ++hits;
      lru.splice(lru.begin(), lru, it->second);
      return it->second->second.Get(isolate);
    }
    ++misses;
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
      return {};
    }
    lru.emplace_front(key, v8::Global<v8::Function>(isolate, fn.ToLocalChecked()));
    index[key] = lru.begin();
    while (lru.size() > limits.cache_entries) {
      index.erase(lru.back().first);
      lru.pop_back();
    }
    return fn;
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

std::uint64_t Runtime::cache_hits() const { return impl_->hits; }
std::uint64_t Runtime::cache_misses() const { return impl_->misses; }

Status Runtime::Check(const Program& program, const std::vector<std::string>& names) {
  Impl& im = *impl_;
  v8::Isolate::Scope isolate_scope(im.isolate);
  v8::HandleScope handles(im.isolate);
  v8::Local<v8::Context> ctx = im.context.Get(im.isolate);
  v8::Context::Scope context_scope(ctx);
  std::string error;
  if (im.Compile(ctx, program, names, error).IsEmpty()) return Status::BadRequest(error);
  return Status::Ok();
}

Result<std::string> Runtime::CallPrelude(const Program& program, const std::vector<std::string>& names,
                                         Invocation& inv, const std::string& self_text, bool each, bool single,
                                         Outcome& failure) {
  Impl& im = *impl_;
  Result<std::string> text = Status::Internal("not run");
  {
    v8::Isolate::Scope isolate_scope(im.isolate);
    v8::HandleScope handles(im.isolate);
    v8::Local<v8::Context> ctx = im.context.Get(im.isolate);
    v8::Context::Scope context_scope(ctx);
    std::string error;
    v8::Local<v8::Function> fn;
    if (!im.Compile(ctx, program, names, error).ToLocal(&fn)) {
      failure.kind = Outcome::Kind::kError;
      failure.message = error;
      return Status::BadRequest(error);
    }
    json::object values;
    for (auto& [name, value] : inv.values) values[name] = std::move(value);
    json::array name_list;
    for (const auto& n : names) name_list.emplace_back(n);
    std::string names_text = json::Write(name_list);
    auto cached_names = im.name_arrays.find(names_text);
    if (cached_names == im.name_arrays.end()) {
      v8::Local<v8::Value> arr = v8::JSON::Parse(ctx, V8Str(im.isolate, names_text)).ToLocalChecked();
      cached_names = im.name_arrays.emplace(names_text, v8::Global<v8::Value>(im.isolate, arr)).first;
    }
    v8::Local<v8::Value> names_v8 = cached_names->second.Get(im.isolate);
    const int flag_index = (inv.allow_errors ? 1 : 0) | (inv.allow_hide ? 2 : 0) | (inv.allow_protect ? 4 : 0) |
                           (single ? 8 : 0);
    if (im.flag_objects[flag_index].IsEmpty()) {
      v8::Local<v8::Object> f = v8::Object::New(im.isolate);
      f->Set(ctx, V8Str(im.isolate, "errors"), v8::Boolean::New(im.isolate, inv.allow_errors)).Check();
      f->Set(ctx, V8Str(im.isolate, "hide"), v8::Boolean::New(im.isolate, inv.allow_hide)).Check();
      f->Set(ctx, V8Str(im.isolate, "protect"), v8::Boolean::New(im.isolate, inv.allow_protect)).Check();
      f->Set(ctx, V8Str(im.isolate, "single"), v8::Boolean::New(im.isolate, single)).Check();
      f->SetIntegrityLevel(ctx, v8::IntegrityLevel::kFrozen).Check();
      im.flag_objects[flag_index].Reset(im.isolate, f);
    }
    v8::Local<v8::Object> flags = im.flag_objects[flag_index].Get(im.isolate);
    v8::Local<v8::Value> args[] = {fn,
                                   V8Str(im.isolate, self_text),
                                   V8Str(im.isolate, json::Write(values)),
                                   names_v8,
                                   flags,
                                   im.host.Get(im.isolate),
                                   v8::Boolean::New(im.isolate, each)};
    im.current = &inv;
    im.watchdog.fired = false;
    const std::int64_t deadline =
        Watchdog::Now() + std::chrono::duration_cast<std::chrono::nanoseconds>(im.limits.wall_time).count();
    im.watchdog.deadline_ns = deadline;
    v8::TryCatch try_catch(im.isolate);
    v8::MaybeLocal<v8::Value> result = im.prelude.Get(im.isolate)->Call(ctx, v8::Undefined(im.isolate), 7, args);
    std::int64_t expected = deadline;
    const bool timed_out = !im.watchdog.deadline_ns.compare_exchange_strong(expected, 0);
    if (timed_out) {
      // The watchdog took the deadline: wait until its TerminateExecution has happened, then clear it, so a late
      // termination can never hit the next call.
      while (!im.watchdog.fired.load()) std::this_thread::yield();
      if (!result.IsEmpty()) im.isolate->CancelTerminateExecution();
    }
    im.current = nullptr;
    if (result.IsEmpty()) {
      if (im.isolate->IsExecutionTerminating() || timed_out || im.out_of_memory) {
        im.isolate->CancelTerminateExecution();
      }
      if (im.out_of_memory) {
        failure.kind = Outcome::Kind::kOutOfMemory;
        failure.message = program.file + ": script ran out of memory";
      } else if (timed_out) {
        failure.kind = Outcome::Kind::kTimeout;
        failure.message = program.file + ": script timeout";
      } else {
        failure.kind = Outcome::Kind::kError;
        failure.message = try_catch.HasCaught() ? ToStd(im.isolate, try_catch.Exception()) : "script failed";
      }
      text = Status::Internal(failure.message);
    } else {
      text = ToStd(im.isolate, result.ToLocalChecked());
    }
  }
  if (im.out_of_memory) {
    // The heap of this isolate is near its limit: start over with a fresh one.
    spdlog::warn("script isolate replaced after running out of memory file={}", program.file);
    im.Dispose();
    im.out_of_memory = false;
    im.Create();
  }
  return text;
}

namespace {

// Reads the prelude's report of one call (kind, message, status) into `out`.
void ReadKind(json::object& r, Outcome& out) {
  std::string_view kind = r["kind"].is_string() ? std::string_view(r["kind"].as_string()) : "error";
  out.kind = kind == "ok" ? Outcome::Kind::kOk : kind == "cancel" ? Outcome::Kind::kCancelled : Outcome::Kind::kError;
  if (r["message"].is_string()) out.message = std::string(r["message"].as_string());
  if (const json::value& st = r["status"]; st.is_number()) {
    out.status = static_cast<int>(st.to_number<double>());
    out.status_given = true;
  }
}

}  // namespace

Outcome Runtime::Run(const Program& program, const std::vector<std::string>& names, Invocation inv) {
  Outcome out;
  std::string self_text = json::Write(inv.self);
  auto text = CallPrelude(program, names, inv, self_text, false, false, out);
  if (!text.ok()) return out;
  auto report = json::Parse(*text);
  if (!report.ok() || !report->is_object()) {
    out.kind = Outcome::Kind::kError;
    out.message = program.file + ": the event result could not be read";
    return out;
  }
  json::object& r = report->as_object();
  ReadKind(r, out);
  if (r["errors"].is_object()) out.errors = std::move(r["errors"].as_object());
  if (r["self"].is_object()) out.self = std::move(r["self"].as_object());
  if (const json::value* q = r.if_contains("query")) out.query = *q;
  for (const auto& h : r["hidden"].as_array()) out.hidden.emplace_back(h.as_string());
  for (const auto& p : r["protected"].as_array()) out.protected_fields.emplace_back(p.as_string());
  return out;
}

Runtime::EachOutcome Runtime::RunEach(const Program& program, const std::vector<std::string>& names,
                                      Invocation inv, const std::string& documents_json, bool single) {
  EachOutcome result;
  auto text = CallPrelude(program, names, inv, documents_json, true, single, result.failure);
  if (!text.ok()) return result;
  if (!text->empty() && (*text)[0] == 'L') {
    result.list_json = text->substr(1);
    return result;
  }
  auto report = json::Parse(text->empty() ? std::string_view() : std::string_view(*text).substr(1));
  if (!report.ok() || !report->is_object()) {
    result.failure.kind = Outcome::Kind::kError;
    result.failure.message = program.file + ": the event result could not be read";
    return result;
  }
  ReadKind(report->as_object(), result.failure);
  return result;
}

}  // namespace dpd::script
