#include "script/node_host.h"

#include <node.h>
#include <uv.h>
#include <v8.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/log.h"
#include "script/node_host.js.h"
#include "script/platform.h"

namespace dpd::script {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

v8::Local<v8::String> Str(v8::Isolate* isolate, std::string_view s) {
  return v8::String::NewFromUtf8(isolate, s.data(), v8::NewStringType::kNormal, static_cast<int>(s.size()))
      .ToLocalChecked();
}

std::string StdStr(v8::Isolate* isolate, v8::Local<v8::Value> v) {
  v8::String::Utf8Value s(isolate, v);
  return *s ? std::string(*s, static_cast<std::size_t>(s.length())) : std::string();
}

// The bytes of a Buffer / typed array / ArrayBuffer, or the UTF-8 of anything else.
std::string Bytes(v8::Isolate* isolate, v8::Local<v8::Value> v) {
  if (v->IsArrayBufferView()) {
    auto view = v.As<v8::ArrayBufferView>();
    std::string out(view->ByteLength(), '\0');
    view->CopyContents(out.data(), out.size());
    return out;
  }
  if (v->IsUndefined() || v->IsNull()) return {};
  return StdStr(isolate, v);
}

ModuleAnswer Failed(std::string message, int status = 500) {
  ModuleAnswer a;
  a.kind = ModuleAnswer::Kind::kFailed;
  a.status = status;
  a.message = std::move(message);
  return a;
}

std::vector<std::string> StringList(const json::value* v) {
  std::vector<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array())
    if (e.is_string()) out.emplace_back(e.as_string());
  return out;
}

}  // namespace

struct NodeHost::Impl {
  struct Pending {
    std::function<void(ModuleAnswer)> done;
    std::function<void(HostRequest, std::function<void(HostResponse)>)> request;
    std::function<void(const json::array&)> emit;
  };
  struct InstanceSpec {
    std::string type, name, config_dir;
    json::object config;
    bool self_host = false;  // made by Type.selfHost() rather than from a config.json
  };

  Options options;
  std::vector<ModuleType> types;
  std::vector<std::string> problems;

  std::mutex mu;  // guards everything down to `stop`
  std::deque<std::function<void()>> inbox;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::map<std::uint64_t, InstanceSpec> instances;
  uv_async_t* async = nullptr;       // the running environment's wake-up handle (null between environments)
  node::Environment* env = nullptr;  // the running environment (null between environments)
  bool stop = false;
  std::uint64_t next_token = 1, next_instance = 1;

  std::atomic<std::uint64_t> requests{0}, restarts{0}, timeouts{0};
  std::atomic<std::size_t> heap_bytes{0};
  std::atomic<bool> over_heap{false};
  std::atomic<std::int64_t> ping_sent{0}, ping_seen{0};  // the monitor's liveness probe (ms)

  std::thread thread, monitor;
  std::condition_variable monitor_cv;
  std::promise<void> loaded;  // set once the first environment has found the types
  bool first = true;          // host thread only

  // Host thread only, while an environment runs.
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  v8::Global<v8::Function> dispatch;

  ~Impl() { Shutdown(); }
  void Shutdown() {
    {
      std::lock_guard lock(mu);
      stop = true;
      if (env) node::Stop(env);
    }
    monitor_cv.notify_all();
    if (monitor.joinable()) monitor.join();
    if (thread.joinable()) thread.join();
  }

  // Queues work for the host thread. False when no environment is running to take it.
  bool Post(std::function<void()> task) {
    std::lock_guard lock(mu);
    if (stop) return false;
    inbox.push_back(std::move(task));
    if (async) uv_async_send(async);  // otherwise the next environment drains the inbox when it starts
    return true;
  }

  static void OnAsync(uv_async_t* handle) { static_cast<Impl*>(handle->data)->Drain(); }

  void Drain() {
    std::deque<std::function<void()>> tasks;
    {
      std::lock_guard lock(mu);
      tasks.swap(inbox);
    }
    for (auto& t : tasks) {
      v8::HandleScope scope(isolate);
      t();
    }
  }

  // Calls the bootstrap's dispatch(op, payload, bytes) as a top-level callback (ticks and microtasks run after it);
  // the string it returns, or nullopt when it threw or the environment is stopping.
  std::optional<std::string> Call(std::string_view op, const std::string& payload, const std::string* bytes = nullptr) {
    v8::EscapableHandleScope scope(isolate);
    v8::Local<v8::Context> ctx = context.Get(isolate);
    v8::Local<v8::Value> args[3] = {Str(isolate, op), Str(isolate, payload), v8::Undefined(isolate)};
    if (bytes != nullptr) {
      auto store = v8::ArrayBuffer::NewBackingStore(isolate, bytes->size());
      if (!bytes->empty()) std::memcpy(store->Data(), bytes->data(), bytes->size());
      args[2] = v8::ArrayBuffer::New(isolate, std::move(store));
    }
    v8::TryCatch tc(isolate);
    v8::MaybeLocal<v8::Value> r =
        node::MakeCallback(isolate, ctx->Global(), dispatch.Get(isolate), 3, args, node::async_context{0, 0});
    if (r.IsEmpty()) {
      if (tc.HasCaught() && !tc.HasTerminated()) spdlog::error("module host: {}", StdStr(isolate, tc.Exception()));
      return std::nullopt;
    }
    v8::Local<v8::Value> v = r.ToLocalChecked();
    return v->IsString() ? StdStr(isolate, v) : std::string();
  }

  // ---- native functions the bootstrap calls (binding.*) ----

  static Impl* Self(const v8::FunctionCallbackInfo<v8::Value>& info) {
    return static_cast<Impl*>(info.Data().As<v8::External>()->Value());
  }

  // respond(token, answerJson, bytes)
  static void Respond(const v8::FunctionCallbackInfo<v8::Value>& info) {
    Impl* self = Self(info);
    v8::Isolate* isolate = info.GetIsolate();
    const auto token = static_cast<std::uint64_t>(info[0]->NumberValue(isolate->GetCurrentContext()).FromMaybe(0));
    ModuleAnswer answer = ReadAnswer(StdStr(isolate, info[1]));
    const bool more = answer.kind == ModuleAnswer::Kind::kPart && !answer.end;  // the token stays for the next part
    Pending p;
    {
      std::lock_guard lock(self->mu);
      auto it = self->pending.find(token);
      if (it == self->pending.end()) return;  // abandoned (timed out) or answered already
      if (more) {
        p.done = it->second.done;
      } else {
        p = std::move(it->second);
        self->pending.erase(it);
      }
    }
    if ((answer.kind == ModuleAnswer::Kind::kWritten || answer.kind == ModuleAnswer::Kind::kPart) && info.Length() > 2)
      answer.body = Bytes(isolate, info[2]);
    p.done(std::move(answer));
  }

  static ModuleAnswer ReadAnswer(const std::string& text) {
    auto parsed = json::Parse(text);
    if (!parsed.ok() || !parsed->is_object()) return Failed("unreadable answer from the module host");
    json::object& o = parsed->as_object();
    ModuleAnswer a;
    std::string_view kind = o["kind"].is_string() ? std::string_view(o["kind"].as_string()) : "failed";
    if (const json::value& st = o["status"]; st.is_number()) a.status = static_cast<int>(st.to_number<double>());
    if (const json::value* hs = o.if_contains("headers"); hs && hs->is_array()) {
      for (const auto& h : hs->as_array()) {
        if (h.is_array() && h.as_array().size() == 2 && h.as_array()[0].is_string() && h.as_array()[1].is_string())
          a.headers.emplace_back(h.as_array()[0].as_string(), h.as_array()[1].as_string());
      }
    }
    if (kind == "next") {
      a.kind = ModuleAnswer::Kind::kNext;
    } else if (kind == "done") {
      a.kind = ModuleAnswer::Kind::kDone;
      a.is_error = o["isError"].is_bool() && o["isError"].as_bool();
      a.error = o["error"];
      a.result = o["result"];
      a.result_is_text = o["text"].is_bool() && o["text"].as_bool();
    } else if (kind == "written") {
      a.kind = ModuleAnswer::Kind::kWritten;
    } else if (kind == "part") {
      a.kind = ModuleAnswer::Kind::kPart;
      a.end = o["end"].is_bool() && o["end"].as_bool();
    } else {
      a.kind = ModuleAnswer::Kind::kFailed;
      if (a.status < 400) a.status = 500;
      a.message = o["message"].is_string() ? std::string(o["message"].as_string()) : "module failed";
    }
    return a;
  }

  // dpd(token, callId, method, path, queryJson, bodyJson|undefined)
  static void Dpd(const v8::FunctionCallbackInfo<v8::Value>& info) {
    Impl* self = Self(info);
    v8::Isolate* isolate = info.GetIsolate();
    v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
    const auto token = static_cast<std::uint64_t>(info[0]->NumberValue(ctx).FromMaybe(0));
    const double call = info[1]->NumberValue(ctx).FromMaybe(0);
    HostRequest req;
    req.method = StdStr(isolate, info[2]);
    req.path = StdStr(isolate, info[3]);
    if (auto q = json::Parse(StdStr(isolate, info[4])); q.ok()) req.query = std::move(*q);
    if (info.Length() > 5 && !info[5]->IsUndefined()) {
      if (auto b = json::Parse(StdStr(isolate, info[5])); b.ok()) {
        req.body = std::move(*b);
        req.has_body = true;
      }
    }
    std::function<void(HostRequest, std::function<void(HostResponse)>)> request;
    {
      std::lock_guard lock(self->mu);
      auto it = self->pending.find(token);
      if (it != self->pending.end()) request = it->second.request;
    }
    auto settle = [self, call](HostResponse r) {
      json::object msg{{"id", call}, {"ok", r.ok}, {"body", r.body_json}};
      std::string text = json::Write(msg);
      self->Post([self, text] { self->Call("settle", text); });
    };
    if (!request) {
      HostResponse r;
      r.body_json = R"({"message":"the request this call belongs to has ended","status":500})";
      settle(std::move(r));
      return;
    }
    request(std::move(req), std::move(settle));
  }

  // emit(token, argsJson)
  static void Emit(const v8::FunctionCallbackInfo<v8::Value>& info) {
    Impl* self = Self(info);
    v8::Isolate* isolate = info.GetIsolate();
    const auto token = static_cast<std::uint64_t>(info[0]->NumberValue(isolate->GetCurrentContext()).FromMaybe(0));
    std::function<void(const json::array&)> emit;
    {
      std::lock_guard lock(self->mu);
      auto it = self->pending.find(token);
      if (it != self->pending.end()) emit = it->second.emit;
    }
    auto args = json::Parse(StdStr(isolate, info[1]));
    if (emit && args.ok() && args->is_array()) emit(args->as_array());
  }

  // store(callId, op, collection, argsJson)
  static void StoreCall(const v8::FunctionCallbackInfo<v8::Value>& info) {
    Impl* self = Self(info);
    v8::Isolate* isolate = info.GetIsolate();
    const double call = info[0]->NumberValue(isolate->GetCurrentContext()).FromMaybe(0);
    std::string op = StdStr(isolate, info[1]);
    std::string collection = StdStr(isolate, info[2]);
    auto args = json::Parse(StdStr(isolate, info[3]));
    auto settle = [self, call](bool ok, std::string result) {
      json::object msg{{"id", call}, {"ok", ok}, {"body", std::move(result)}};
      std::string text = json::Write(msg);
      self->Post([self, text] { self->Call("settle", text); });
    };
    if (!self->options.store || !args.ok() || !args->is_array()) {
      settle(false, json::Write(json::value(json::string("store unavailable"))));
      return;
    }
    self->options.store(op, collection, std::move(args->as_array()), std::move(settle));
  }

  // log(level, text)
  static void Log(const v8::FunctionCallbackInfo<v8::Value>& info) {
    v8::Isolate* isolate = info.GetIsolate();
    std::string level = StdStr(isolate, info[0]);
    std::string text = StdStr(isolate, info[1]);
    if (level == "error") {
      spdlog::error("module {}", text);
    } else if (level == "warn") {
      spdlog::warn("module {}", text);
    } else {
      spdlog::info("module {}", text);
    }
  }

  v8::Local<v8::Object> MakeBinding(v8::Local<v8::Context> ctx) {
    v8::Local<v8::Object> b = v8::Object::New(isolate);
    v8::Local<v8::External> data = v8::External::New(isolate, this);
    auto fn = [&](const char* name, v8::FunctionCallback cb) {
      b->Set(ctx, Str(isolate, name), v8::Function::New(ctx, cb, data).ToLocalChecked()).Check();
    };
    fn("respond", &Impl::Respond);
    fn("dpd", &Impl::Dpd);
    fn("emit", &Impl::Emit);
    fn("store", &Impl::StoreCall);
    fn("log", &Impl::Log);
    b->Set(ctx, Str(isolate, "appDir"), Str(isolate, options.app_dir.string())).Check();
    b->Set(ctx, Str(isolate, "env"), Str(isolate, options.environment)).Check();
    b->Set(ctx, Str(isolate, "responseBytes"),
           v8::Number::New(isolate, static_cast<double>(options.limits.response_bytes)))
        .Check();
    b->Set(ctx, Str(isolate, "requestTimeMs"),
           v8::Number::New(isolate, static_cast<double>(options.limits.request_time.count())))
        .Check();
    return b;
  }

  // The host's used heap, and whether it is past its limit. On the host thread.
  void ReadHeap(v8::Isolate* iso) {
    v8::HeapStatistics heap;
    iso->GetHeapStatistics(&heap);
    heap_bytes.store(heap.used_heap_size(), std::memory_order_relaxed);
    if (heap.used_heap_size() > options.limits.heap_bytes) over_heap.store(true);
  }
  static void AfterGc(v8::Isolate* isolate, v8::GCType, v8::GCCallbackFlags, void* data) {
    static_cast<Impl*>(data)->ReadHeap(isolate);
  }
  static size_t NearHeapLimit(void* data, size_t current, size_t) {
    auto* self = static_cast<Impl*>(data);
    self->over_heap.store(true);
    self->isolate->TerminateExecution();
    return current + 64 * 1024 * 1024;  // room to unwind; the environment is replaced
  }

  // ---- the host thread ----

  void Main() {
    for (;;) {
      RunEnvironment();
      std::vector<Pending> failed;
      {
        std::lock_guard lock(mu);
        for (auto& [token, p] : pending) failed.push_back(std::move(p));
        pending.clear();
        if (stop) break;
      }
      for (auto& p : failed) p.done(Failed("Module host restarted while handling the request"));
      restarts.fetch_add(1);
      spdlog::warn("module host restarted (restarts={})", restarts.load());
    }
    std::vector<Pending> failed;
    {
      std::lock_guard lock(mu);
      for (auto& [token, p] : pending) failed.push_back(std::move(p));
      pending.clear();
      inbox.clear();
    }
    for (auto& p : failed) p.done(Failed("Server stopping", 503));
    if (first) loaded.set_value();
  }

  void RunEnvironment() {
    std::vector<std::string> errors;
    // A module may not change dpd's process state (its working directory, its title, process.exit: see the exit
    // handler); no inspector, no ES-module loader hooks of its own, no global search paths.
    const auto flags = static_cast<node::EnvironmentFlags::Flags>(
        node::EnvironmentFlags::kNoCreateInspector | node::EnvironmentFlags::kNoGlobalSearchPaths);
    std::unique_ptr<node::CommonEnvironmentSetup> setup = node::CommonEnvironmentSetup::Create(
        SharedPlatform(), &errors, std::vector<std::string>{"dpd"}, std::vector<std::string>{}, flags);
    if (!setup) {
      for (auto& e : errors) problems.push_back("module host: " + e);
      std::lock_guard lock(mu);
      stop = true;
      return;
    }
    isolate = setup->isolate();
    {
      v8::Locker locker(isolate);
      v8::Isolate::Scope isolate_scope(isolate);
      v8::HandleScope handles(isolate);
      v8::Local<v8::Context> ctx = setup->context();
      v8::Context::Scope context_scope(ctx);
      context.Reset(isolate, ctx);
      isolate->AddGCEpilogueCallback(&Impl::AfterGc, this);
      isolate->AddNearHeapLimitCallback(&Impl::NearHeapLimit, this);
      over_heap.store(false);
      node::SetProcessExitHandler(setup->env(), [](node::Environment* e, int code) {
        spdlog::warn("module called process.exit({}): the module host restarts", code);
        node::Stop(e);
      });
      uv_async_t wake;
      uv_async_init(setup->event_loop(), &wake, &Impl::OnAsync);
      wake.data = this;
      bool ok = Bootstrap(setup.get());
      if (ok) {
        ok = Load();
      }
      if (first) {
        first = false;
        loaded.set_value();
      }
      bool run = false;
      {
        std::lock_guard lock(mu);
        if (!ok) stop = true;  // an environment that cannot start the layer would fail the same way again
        if (ok && !stop) {
          env = setup->env();
          async = &wake;
          uv_async_send(&wake);  // what was queued meanwhile
          run = true;
        }
        ping_sent.store(0);
        ping_seen.store(0);
      }
      if (run) (void)node::SpinEventLoop(setup->env());
      {
        std::lock_guard lock(mu);
        env = nullptr;
        async = nullptr;
      }
      node::Stop(setup->env());
      uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
      uv_run(setup->event_loop(), UV_RUN_NOWAIT);
      dispatch.Reset();
      context.Reset();
      isolate->RemoveGCEpilogueCallback(&Impl::AfterGc, this);
    }
    setup.reset();
    isolate = nullptr;
  }

  bool Bootstrap(node::CommonEnvironmentSetup* setup) {
    v8::Local<v8::Context> ctx = context.Get(isolate);
    v8::Local<v8::Object> binding = MakeBinding(ctx);
    v8::MaybeLocal<v8::Value> r = node::LoadEnvironment(
        setup->env(), [&](const node::StartExecutionCallbackInfo& info) -> v8::MaybeLocal<v8::Value> {
          v8::EscapableHandleScope scope(isolate);
          v8::Local<v8::Script> script;
          if (!v8::Script::Compile(ctx, Str(isolate, kNodeHostJs)).ToLocal(&script)) return {};
          v8::Local<v8::Value> factory;
          if (!script->Run(ctx).ToLocal(&factory) || !factory->IsFunction()) return {};
          v8::Local<v8::Value> args[] = {info.process_object, info.native_require, binding};
          v8::Local<v8::Value> fn;
          if (!factory.As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 3, args).ToLocal(&fn) ||
              !fn->IsFunction())
            return {};
          dispatch.Reset(isolate, fn.As<v8::Function>());
          return scope.Escape(fn);
        });
    if (r.IsEmpty() || dispatch.IsEmpty()) {
      problems.push_back("module host: the compatibility layer did not start");
      return false;
    }
    return true;
  }

  // Finds the types (first environment) and makes the instances again (after a restart).
  bool Load() {
    auto text = Call("load", "{}");
    if (!text) {
      if (first) problems.push_back("module host: loading the modules failed");
      return false;
    }
    if (first) {
      auto parsed = json::Parse(*text);
      if (!parsed.ok() || !parsed->is_object()) return false;
      json::object& o = parsed->as_object();
      for (const auto& p : StringList(o.if_contains("problems"))) problems.push_back(p);
      if (const json::value* ts = o.if_contains("types"); ts && ts->is_array()) {
        for (const auto& tv : ts->as_array()) {
          if (!tv.is_object()) continue;
          const json::object& t = tv.as_object();
          ModuleType mt;
          auto str = [&](const char* k) {
            const json::value* v = t.if_contains(k);
            return v && v->is_string() ? std::string(v->as_string()) : std::string();
          };
          mt.name = str("name");
          mt.module = str("module");
          mt.label = str("label");
          mt.default_path = str("defaultPath");
          mt.events = StringList(t.if_contains("events"));
          mt.client_generation = t.if_contains("clientGeneration") && t.at("clientGeneration").is_bool() &&
                                 t.at("clientGeneration").as_bool();
          if (const json::value* v = t.if_contains("basicDashboard")) mt.basic_dashboard = *v;
          if (const json::value* v = t.if_contains("dashboard")) mt.dashboard = *v;
          if (const json::value* v = t.if_contains("selfHost"); v && v->is_bool()) mt.self_host = v->as_bool();
          types.push_back(std::move(mt));
        }
      }
      return true;
    }
    std::map<std::uint64_t, InstanceSpec> specs;
    {
      std::lock_guard lock(mu);
      specs = instances;
    }
    for (const auto& [id, spec] : specs) {
      auto r = Call("create", CreatePayload(id, spec));
      if (r && spec.self_host && !r->empty() && ((*r)[0] == '=' || (*r)[0] == '-')) continue;
      if (!r || !r->empty()) spdlog::error("module host: resource {} not made again after the restart: {}", spec.name,
                                           r ? *r : std::string("the host stopped"));
    }
    return true;
  }

  Result<std::pair<std::uint64_t, std::string>> MakeInstance(InstanceSpec spec, const std::string& what);

  static std::string CreatePayload(std::uint64_t id, const InstanceSpec& spec) {
    json::object o{{"id", id}, {"type", spec.type}, {"name", spec.name}, {"configPath", spec.config_dir}};
    o["config"] = spec.config;
    if (spec.self_host) o["selfHost"] = true;
    return json::Write(o);
  }

  // The monitor: every 100 ms it checks that the host's loop answered its last probe within busy_time and that the
  // heap is under its limit; otherwise it stops the environment (the host thread then starts a fresh one).
  void Monitor() {
    std::unique_lock lock(mu);
    while (!monitor_cv.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop; })) {
      if (env == nullptr) continue;
      const std::int64_t now = NowMs(), sent = ping_sent.load(), seen = ping_seen.load();
      bool wedged = sent != 0 && seen < sent && now - sent > options.limits.busy_time.count();
      if (wedged || over_heap.load()) {
        spdlog::error("module host {}: stopping it", wedged ? "busy past modules.busy_time_ms (a loop?)"
                                                           : "heap past modules.heap_bytes");
        node::Stop(env);
        env = nullptr;  // stopped once; the host thread clears the rest
        continue;
      }
      if (sent == 0 || seen >= sent) {
        ping_sent.store(now);
        inbox.push_back([this, now] {
          ping_seen.store(now);
          ReadHeap(isolate);  // also between collections: large arrays can grow the heap without triggering one
        });
        if (async) uv_async_send(async);
      }
    }
  }
};

NodeHost::NodeHost(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NodeHost::~NodeHost() = default;

void NodeHost::Stop() { impl_->Shutdown(); }

std::unique_ptr<NodeHost> NodeHost::Start(Options options) {
  std::error_code ec;
  const bool has_modules = std::filesystem::is_directory(options.app_dir / "node_modules", ec);
  if (!has_modules) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Impl* im = impl.get();
  std::future<void> loaded = im->loaded.get_future();
  im->thread = std::thread([im] { im->Main(); });
  loaded.wait();
  im->monitor = std::thread([im] { im->Monitor(); });
  return std::unique_ptr<NodeHost>(new NodeHost(std::move(impl)));
}

const std::vector<ModuleType>& NodeHost::types() const { return impl_->types; }
const std::vector<std::string>& NodeHost::problems() const { return impl_->problems; }

// Makes an instance on the host thread and waits for it (at most twice busy_time): the layer's "create" answer
// ("" or an error text; "=<name>" / "-" for a self-hosted one). On success the spec is recorded under a new id, so a
// restart makes it again. `what` names it in errors ("resource todos", "type Hello").
Result<std::pair<std::uint64_t, std::string>> NodeHost::Impl::MakeInstance(InstanceSpec spec, const std::string& what) {
  std::uint64_t id;
  {
    std::lock_guard lock(mu);
    id = next_instance++;
  }
  auto result = std::make_shared<std::promise<std::optional<std::string>>>();
  std::future<std::optional<std::string>> answer = result->get_future();
  std::string payload = CreatePayload(id, spec);
  if (!Post([this, result, payload] { result->set_value(Call("create", payload)); })) {
    return Status::Unavailable("the module host is not running");
  }
  if (answer.wait_for(options.limits.busy_time * 2) != std::future_status::ready) {
    return Status::Unavailable(what + ": the module host did not answer");
  }
  std::optional<std::string> r = answer.get();
  if (!r) return Status::Internal(what + ": the module host stopped while making it");
  const bool made = spec.self_host ? !r->empty() && (*r)[0] == '=' : r->empty();
  if (!made) return std::pair(std::uint64_t{0}, std::move(*r));  // id 0: refused, the text says why
  if (spec.self_host) spec.name = r->substr(1);
  std::string name = spec.name;
  std::lock_guard lock(mu);
  instances.emplace(id, std::move(spec));
  return std::pair(id, std::move(name));
}

Result<std::uint64_t> NodeHost::Create(const std::string& type, const std::string& name, const json::object& config,
                                       const std::filesystem::path& config_dir) {
  auto made = impl_->MakeInstance(Impl::InstanceSpec{type, name, config_dir.string(), config}, "resource " + name);
  if (!made.ok()) return made.status();
  if (made->first == 0) return Status::BadRequest("resource " + name + " (" + type + "): " + made->second);
  return made->first;
}

Result<std::optional<std::pair<std::uint64_t, std::string>>> NodeHost::CreateSelfHosted(const std::string& type) {
  auto made = impl_->MakeInstance(Impl::InstanceSpec{type, type, "", {}, true}, "type " + type);
  if (!made.ok()) return made.status();
  if (made->first != 0) return std::optional<std::pair<std::uint64_t, std::string>>(std::move(*made));
  if (made->second == "-") return std::optional<std::pair<std::uint64_t, std::string>>();  // it declined
  return Status::BadRequest("type " + type + ": selfHost(): " + made->second);
}

void NodeHost::Destroy(std::uint64_t instance) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->instances.erase(instance) == 0) return;
  }
  Impl* im = impl_.get();
  std::string payload = json::Write(json::object{{"id", instance}});
  (void)im->Post([im, payload] { im->Call("destroy", payload); });
}

std::uint64_t NodeHost::Handle(ModuleRequest request, std::function<void(ModuleAnswer)> done) {
  Impl* im = impl_.get();
  std::uint64_t token = 0;
  const char* refused = nullptr;
  {
    std::lock_guard lock(im->mu);
    if (im->stop) {
      refused = "Server stopping";
    } else if (im->pending.size() >= im->options.limits.in_flight) {
      refused = "Too many module requests in flight";
    } else {
      token = im->next_token++;
      im->pending.emplace(token, Impl::Pending{std::move(done), std::move(request.request), std::move(request.emit)});
    }
  }
  if (refused != nullptr) {
    done(Failed(refused, 503));
    return 0;
  }
  im->requests.fetch_add(1, std::memory_order_relaxed);
  json::object o{{"token", token},
                 {"instance", request.instance},
                 {"method", request.method},
                 {"url", request.url},
                 {"target", request.target},
                 {"hasBody", request.has_body},
                 {"sid", request.session_id},
                 {"isRoot", request.is_root},
                 {"internal", request.internal},
                 {"ip", request.remote_ip}};
  o["query"] = std::move(request.query);
  o["body"] = std::move(request.body);
  o["me"] = std::move(request.me);
  json::array headers;
  for (auto& [n, v] : request.headers) headers.push_back(json::array{json::string(n), json::string(v)});
  o["headers"] = std::move(headers);
  if (request.clients_json) {
    if (auto c = json::Parse(*request.clients_json); c.ok()) o["clients"] = std::move(*c);
  }
  if (request.body_file) {
    o["bodyFd"] = request.body_fd;
    o["bodySize"] = request.body_file_bytes;
  }
  auto payload = std::make_shared<std::string>(json::Write(o));
  auto bytes = std::make_shared<std::string>(std::move(request.raw_body));
  // The upload's file stays open until the module has opened its own descriptor to it (during "handle").
  (void)im->Post([im, payload, bytes, file = std::move(request.body_file)] {
    (void)im->Call("handle", *payload, bytes.get());
  });
  return token;
}

void NodeHost::Abandon(std::uint64_t token) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->pending.erase(token) == 0) return;
  }
  Impl* im = impl_.get();
  std::string payload = json::Write(json::object{{"token", token}});
  (void)im->Post([im, payload] { im->Call("abandon", payload); });
}

void NodeHost::Drained(std::uint64_t token, std::size_t bytes) {
  Impl* im = impl_.get();
  std::string payload = json::Write(json::object{{"token", token}, {"bytes", bytes}});
  (void)im->Post([im, payload] { im->Call("drained", payload); });
}

void NodeHost::CountTimeout() { impl_->timeouts.fetch_add(1, std::memory_order_relaxed); }

NodeHost::Figures NodeHost::figures() const {
  Figures f;
  f.requests = impl_->requests.load();
  f.restarts = impl_->restarts.load();
  f.timeouts = impl_->timeouts.load();
  f.heap_bytes = impl_->heap_bytes.load();
  std::lock_guard lock(impl_->mu);
  f.in_flight = impl_->pending.size();
  return f;
}

}  // namespace dpd::script
