#pragma once
// Event scripts on V8 (ARCHITECTURE §5). One isolate and one context per worker thread (Runtime::ForThisThread);
// each script body is compiled once per isolate as a function whose parameters are the injected names, and kept in a
// bounded LRU (ScriptLimits::cache_entries) found by its parameter-name list and its source text. Every call gets a fresh `this` (built from JSON) and fresh helper functions.
// A watchdog stops a call that runs past its wall-time limit (TerminateExecution); a near-heap-limit callback stops
// one that eats memory, and that isolate is replaced. Scripts see no `require`, `process` or host objects beyond
// what the caller injects.
//
// This module knows nothing of resources: the caller passes the parameter names, their values (JSON) and gets back
// what the script did. Thread-safety: a Runtime belongs to one thread (V8 itself is set up once, on the first
// Runtime of the process, whichever thread makes it); CompileCacheFigures may be called from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"

namespace dpd::script {

using ScriptLimits = ::dpd::ScriptLimits;  // base/limits.h

// One script to run: its file name (for messages) and source.
struct Program {
  std::string file;  // e.g. "resources/todos/post.js"
  std::string source;
};

// A `dpd.<resource>.<method>(…)` call made by a script (spec §10), handed to the host.
struct HostRequest {
  std::string method;  // "GET", "POST", "PUT", "DELETE"
  std::string path;    // "/todos/abc" (no query string)
  json::value query;   // the query object as the script gave it (null when none)
  json::value body;    // the body as given (null when none)
  bool has_body = false;
};

// Its answer. `body_json` is JSON text (empty = undefined): the result when `ok`, else the rejection value.
struct HostResponse {
  bool ok = false;
  std::string body_json;
};

struct Outcome;

// What a call may use. `self` becomes `this` (and is read back afterwards); `values` are injected by name as
// plain data (copies); `flags` selects the helper set: which of the event helpers exist.
struct Invocation {
  json::object self;
  std::vector<std::pair<std::string, json::value>> values;
  bool allow_errors = false;   // error/errorIf/errorUnless/hasErrors
  bool allow_hide = false;     // hide/unhide
  bool allow_protect = false;  // protect/unprotect/changed (needs "previous" among values)
  // Each-mode (the Get event over a list): `this` is each document of this JSON array in turn; see Outcome.
  const std::string* documents_json = nullptr;
  bool single = false;  // each-mode for a by-id GET: a cancel fails instead of dropping the document
  // The `dpd` client (spec §10): a JSON array [{"key":"todos","path":"/todos"}, …] of the resources a script can
  // reach (nullptr: no `dpd`), and how one call is carried out. `request` must answer through `done` later, on this
  // thread, never before it returns; `done` may be dropped (the call then never settles).
  std::shared_ptr<const std::string> clients_json;
  std::function<void(HostRequest, std::function<void(HostResponse)> done)> request;
  // console.log / emit land here (the host decides where they go). emit's arguments as JSON; a dpd client given as
  // the first of four arguments arrives as {"$client": "<path>"}.
  std::function<void(std::string_view line)> log;
  std::function<void(const json::array& args)> emit;
  // The final outcome of a call that returned kPending (called once, on this thread, outside V8).
  std::function<void(Outcome)> on_complete;
};

struct Outcome {
  // kPending: the body returned but dpd callbacks/promises are outstanding; the result arrives via on_complete.
  enum class Kind { kOk, kCancelled, kError, kTimeout, kOutOfMemory, kPending } kind = Kind::kOk;
  std::string message;        // cancel message / exception text
  int status = 400;           // cancel status
  bool status_given = false;  // a status was passed (Deployd then adds "statusCode")
  json::object self;          // `this` after the call (hidden properties still present)
  json::object errors;        // error(k, m)
  json::value query;          // the injected "query" after the call (scripts may edit it), null if none
  std::vector<std::string> hidden;
  std::vector<std::string> protected_fields;
  std::string list_json;      // each-mode success: the surviving documents, hidden properties removed
  json::value session;        // what the script did to `session`: {save, remove, data} (null: nothing)
  std::uint64_t call_id = 0;  // kPending: what Abandon takes
};

// True when `name` occurs in `source` as a whole identifier (not inside a longer one). Used to build only the
// helpers and values a script can reach; a false positive (a comment, a property name) only costs time.
bool MentionsName(std::string_view source, std::string_view name);

// True when a script with this source is handed the injected value `name` (it names the value or a helper that
// reads it); Run drops the others, so a caller may skip building them.
bool NeedsValue(std::string_view source, std::string_view name);

class Runtime {
 public:
  // The runtime of the calling thread, created on first use with `limits` (later calls' limits are ignored).
  static Runtime& ForThisThread(const ScriptLimits& limits = {});
  ~Runtime();

  // Compiles (or takes from the cache) and runs `program` with `inv`. A syntax error is an Outcome of kind kError
  // whose message is "<file>:<line>: SyntaxError: …". Each-mode (inv.documents_json): on success `list_json` holds
  // the surviving documents; otherwise the Outcome describes the first failure.
  Outcome Run(const Program& program, const std::vector<std::string>& parameter_names, Invocation inv);

  // Forgets a pending call (its event gave up waiting): its callbacks are never run and on_complete never called.
  void Abandon(std::uint64_t call_id);

  // Compiles without running (start-up warm-up and load-time syntax checks). Error text as for Run.
  Status Check(const Program& program, const std::vector<std::string>& parameter_names);

  std::uint64_t cache_hits() const;
  std::uint64_t cache_misses() const;
  std::size_t pending_calls() const;

 private:
  explicit Runtime(const ScriptLimits& limits);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The compiled-script caches of every runtime of the process, summed (for metrics). Safe from any thread.
struct CacheFigures {
  std::uint64_t hits = 0, misses = 0, evictions = 0;
  std::size_t entries = 0;     // compiled functions held now
  std::size_t runtimes = 0;    // isolates created (one per thread that ran a script)
  std::uint64_t calls = 0;     // script runs
  double run_seconds = 0;      // their time on their threads (a script's own work, not what it waited for)
  std::size_t heap_bytes = 0;  // used V8 heap over every isolate (sampled every 64 calls of each)
  std::size_t heap_physical_bytes = 0;  // memory V8's heaps hold from the system (committed and touched), same sampling
};
CacheFigures CompileCacheFigures();

}  // namespace dpd::script
