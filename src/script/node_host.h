#pragma once
// The resource-module host (docs/architecture.md, "Resource modules"): a real Node.js environment, embedded through
// libnode's embedder API on its own thread with its own event loop, that runs the app's custom resource types from
// node_modules (Deployd's §1.5 discovery) against a compatibility layer for `deployd/lib/resource`,
// `deployd/lib/script` and `deployd/lib/util/http`. It shares the process's one V8 platform with the event-script
// isolates. Only module code runs here; collections stay native.
//
// A request crosses over as a message (its method, URLs, query, parsed body, raw body bytes, headers, session) and
// comes back as one Answer, on the host thread; the caller moves it to its own thread. A request the module never
// answers is abandoned by the caller after its time limit. When module JavaScript does not return to the event loop
// within ModuleLimits::busy_time, or its heap passes ModuleLimits::heap_bytes, the host stops that environment,
// answers everything in flight with a 500 and starts a fresh one (the types are found again, the instances made
// again); requests for native resources never wait on any of this.
//
// This module knows nothing of resources: the caller turns Answers into replies. Thread-safety: every public method
// may be called from any thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"
#include "script/engine.h"

namespace dpd::script {

// A type a module exports (a constructor whose prototype carries Deployd's resource tag).
struct ModuleType {
  std::string name;     // the constructor's name: what config.json's "type" says
  std::string module;   // where it came from ("node_modules/hello.js")
  std::string label;    // `label`, or the name
  std::string default_path;
  std::vector<std::string> events;  // `events`, as declared ("get", "post", …)
  bool client_generation = false;   // prototype.clientGeneration: offered as dpd.<name> in /dpd.js
  json::value basic_dashboard;      // `basicDashboard` (settings form) or null
  json::value dashboard;            // `dashboard` ({path, pages, …}) or null
  bool self_host = false;           // a static selfHost(): the type mounts an instance of its own (spec §1.5)
};

struct ModuleRequest {
  std::uint64_t instance = 0;
  std::string method;      // after `_method`
  std::string url;         // below the resource ("/x")
  std::string target;      // the request's whole target ("/hello/x?a=1")
  json::object query;      // parsed (spec §3.2)
  json::value body;        // parsed body (null when none was parsed)
  bool has_body = false;
  std::string raw_body;    // the bytes as received (a multipart upload, …)
  // Or an upload on disk: the descriptor of its unnamed file (kept open by `body_file` until the host has taken the
  // request; the module reads it through a descriptor of its own) and its size.
  int body_fd = -1;
  std::shared_ptr<const void> body_file;
  std::uint64_t body_file_bytes = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names
  json::value me;          // the session's user (null: none)
  std::string session_id;  // empty: anonymous
  bool is_root = false;
  bool internal = false;
  std::string remote_ip;
  // The resources module code can reach as ctx.dpd.<key>: [{"key":"todos","path":"/todos"}, …] (spec §10).
  std::shared_ptr<const std::string> clients_json;
  // dpd.<resource>.<method>(…) from module code for this request (spec §10); answers through `done` later.
  std::function<void(HostRequest, std::function<void(HostResponse)> done)> request;
  // emit() from the module's event scripts: the arguments as JSON.
  std::function<void(const json::array& args)> emit;
};

// What the module did with a request.
struct ModuleAnswer {
  enum class Kind {
    kNext,     // next(): the router tries the next match
    kDone,     // ctx.done(err, result)
    kWritten,  // res.end(…) written directly: `status`, `headers`, `body` as given
    kFailed,   // the module threw, the host restarted, or an answer was unreadable: 500 `message`
    kPart,     // a piece of a response the module streams (res.write past 64 KiB before res.end): `body`; the
               // first piece carries `status` and `headers`, the last has `end` (more answers follow until then)
  } kind = Kind::kFailed;
  bool end = false;  // kPart: the response is complete
  int status = 200;                                         // res.statusCode when it answered
  std::vector<std::pair<std::string, std::string>> headers;  // what the module set (res.setHeader)
  bool is_error = false;                                    // kDone with an error
  json::value error;                                        // kDone: the error as an object (Deployd's shapes)
  json::value result;                                       // kDone: the result (string → text/html)
  bool result_is_text = false;
  std::string body;     // kWritten
  std::string message;  // kFailed
};

// Deployd's store API for modules (process.server.createStore(name)): the host hands each call to the app.
// `op` is insert, find, first, update, remove, count or rename; `args` its arguments as JSON; `done(ok, json)` the
// result or the error message, from any thread.
using ModuleStore = std::function<void(const std::string& op, const std::string& collection, json::array args,
                                       std::function<void(bool ok, std::string result_json)> done)>;

class NodeHost {
 public:
  struct Options {
    std::filesystem::path app_dir;
    std::string environment;  // "development", "production": process.server.options.env
    ModuleLimits limits;
    ModuleStore store;
  };

  // Starts the host and finds the app's module types (spec §1.5). Null when the app has no node_modules and no
  // package.json naming candidates (nothing to host). Load errors are problems, one per module, not failures.
  static std::unique_ptr<NodeHost> Start(Options options);
  ~NodeHost();
  // Stops the environment and its threads; what is in flight is answered 503, later requests too. Idempotent.
  void Stop();

  const std::vector<ModuleType>& types() const;
  const std::vector<std::string>& problems() const;  // "node_modules/x: Error: …"

  // Makes an instance of `type` for the resource `name` (the constructor and load()); an exception is the error.
  // Waits for the host (at most busy_time).
  Result<std::uint64_t> Create(const std::string& type, const std::string& name, const json::object& config,
                               const std::filesystem::path& config_dir);
  void Destroy(std::uint64_t instance);
  // The instance a self-hosting type makes of itself (Type.selfHost(…)): its id and name, or nullopt when it
  // declined (returned nothing). Made again after a restart, as Create's are.
  Result<std::optional<std::pair<std::uint64_t, std::string>>> CreateSelfHosted(const std::string& type);

  // Hands a request over; `done` is called once with the answer, on the host thread (or at once when the host is
  // full or stopped), unless Abandon took the token first. A streamed response comes as kPart answers until one
  // with `end` (or a kFailed answer when the host fails meanwhile). Returns the token.
  std::uint64_t Handle(ModuleRequest request, std::function<void(ModuleAnswer)> done);
  // The caller gave up (time limit, or the client of a streamed response went away): `done` is not called again,
  // a late answer is dropped, and the module's request stream and response are closed.
  void Abandon(std::uint64_t token);
  // The caller has taken `bytes` of a streamed response's parts: the module may write that much more (its
  // res.write returns false and waits for 'drain' while 1 MiB is untaken).
  void Drained(std::uint64_t token, std::size_t bytes);

  struct Figures {
    std::uint64_t requests = 0, restarts = 0, timeouts = 0;
    std::size_t in_flight = 0, heap_bytes = 0;
  };
  Figures figures() const;
  void CountTimeout();

  struct Impl;

 private:
  explicit NodeHost(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpd::script
