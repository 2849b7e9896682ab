#pragma once
// Event scripts on V8 (ARCHITECTURE §5). One isolate and one context per worker thread (Runtime::ForThisThread);
// each script body is compiled once per isolate as a function whose parameters are the injected names, and kept in a
// bounded LRU keyed by its source hash. Every call gets a fresh `this` (built from JSON) and fresh helper functions.
// A watchdog stops a call that runs past its wall-time limit (TerminateExecution); a near-heap-limit callback stops
// one that eats memory, and that isolate is replaced. Scripts see no `require`, `process` or host objects beyond
// what the caller injects.
//
// This module knows nothing of resources: the caller passes the parameter names, their values (JSON) and gets back
// what the script did. Thread-safety: a Runtime belongs to one thread; Engine::Initialize is thread-safe.

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
  std::string file;    // e.g. "resources/todos/post.js"
  std::string source;
};

// What a call may use. `self` becomes `this` (and is read back afterwards); `values` are injected by name as
// plain data (copies); `flags` selects the helper set: which of the event helpers exist.
struct Invocation {
  json::object self;
  std::vector<std::pair<std::string, json::value>> values;
  bool allow_errors = false;   // error/errorIf/errorUnless/hasErrors
  bool allow_hide = false;     // hide/unhide
  bool allow_protect = false;  // protect/unprotect/changed (needs "previous" among values)
  // console.log / emit land here (the host decides where they go).
  std::function<void(std::string_view line)> log;
  std::function<void(const json::array& args)> emit;
};

struct Outcome {
  enum class Kind { kOk, kCancelled, kError, kTimeout, kOutOfMemory } kind = Kind::kOk;
  std::string message;          // cancel message / exception text
  int status = 400;             // cancel status
  bool status_given = false;    // a status was passed (Deployd then adds "statusCode")
  json::object self;            // `this` after the call (hidden properties still present)
  json::object errors;          // error(k, m)
  json::value query;            // the injected "query" after the call (scripts may edit it), null if none
  std::vector<std::string> hidden;
  std::vector<std::string> protected_fields;
};

class Runtime {
 public:
  // The runtime of the calling thread, created on first use with `limits` (later calls' limits are ignored).
  static Runtime& ForThisThread(const ScriptLimits& limits = {});
  ~Runtime();

  // Compiles (or takes from the cache) and runs `program` with `inv`. A syntax error is an Outcome of kind kError
  // whose message is "<file>:<line>: SyntaxError: …".
  Outcome Run(const Program& program, const std::vector<std::string>& parameter_names, Invocation inv);

  // Runs `program` once per document of `documents_json` (a JSON array) in one call into V8 — the Get event over a
  // list. On success `list_json` holds the surviving documents (cancelled ones dropped, hidden properties removed);
  // otherwise the Outcome describes the first failure. With `single`, a cancel fails instead of dropping.
  struct EachOutcome {
    Outcome failure;        // kind kOk when the run succeeded
    std::string list_json;  // valid when failure.kind == kOk
  };
  EachOutcome RunEach(const Program& program, const std::vector<std::string>& parameter_names, Invocation inv,
                      const std::string& documents_json, bool single);

  // Compiles without running (start-up warm-up and load-time syntax checks). Error text as for Run.
  Status Check(const Program& program, const std::vector<std::string>& parameter_names);

  std::uint64_t cache_hits() const;
  std::uint64_t cache_misses() const;

 private:
  explicit Runtime(const ScriptLimits& limits);
  // Calls the prelude; returns its text, or a failure Outcome (syntax error, timeout, out of memory, exception).
  Result<std::string> CallPrelude(const Program& program, const std::vector<std::string>& names, Invocation& inv,
                                  const std::string& self_text, bool each, bool single, Outcome& failure);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpd::script
