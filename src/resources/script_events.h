#pragma once
// EventRunner on V8 (script/): runs a resource's event files (get.js, post.js, …; spec §1.3, §6) with the
// variables of spec §6.3–6.4, waits for the `dpd` calls they make (spec §6.8: callbacks and promises, bounded by
// ScriptLimits::event_time), routes those calls in-process through resources/internal_client.h (the caller's root
// flag, session and the recursion guard of spec §10), hands emit() to an Emitter, and maps what the script did to an EventOutcome (spec §6.6).
//
// Thread-safety: immutable after construction (a script edited on disk makes a new app snapshot with new runners,
// server/app_snapshot.h); each call runs on the calling thread's own isolate, and a call's
// dpd requests and completions stay on that thread.

#include <map>
#include <memory>
#include <string>

#include "base/limits.h"
#include "resources/emitter.h"
#include "resources/events.h"
#include "script/engine.h"

namespace dpd::resources {

// Compiles `source` as the event file `file` ("resources/todos/post.js") on the calling thread's isolate without
// running it: OK, or the syntax error as "<file>:<line>: SyntaxError: …".
Status CheckEventScript(const std::string& file, const std::string& source, const ScriptLimits& limits);

class ScriptEvents : public EventRunner {
 public:
  // `scripts`: lower-case file name → source, as loaded by config/. `resource` names the files in messages.
  // `emitter` must outlive this object.
  ScriptEvents(std::string resource, std::map<std::string, std::string> scripts, const ScriptLimits& limits,
               Emitter* emitter);

  bool Has(Event event) const override;
  boost::asio::awaitable<EventOutcome> Run(const EventCall& call) override;

  // The Get event over a whole result in one call into V8 (documents_json: a JSON array as stored). Returns the
  // response body (survivors, hidden properties removed), or the outcome that fails the request.
  boost::asio::awaitable<Result<std::string>> RunGetList(Context& ctx, const std::string& documents_json, bool single,
                                                         EventOutcome& failure) override;

  // Compiles every script on the calling thread; one line per syntax error ("resources/x/get.js:3: SyntaxError…").
  std::vector<std::string> Warm() const override;

 private:
  struct Script {
    std::string file;  // "resources/todos/get.js"
    std::string source;
    bool uses_dpd = false;      // mentions `dpd` (only then is the client built for it)
    bool uses_headers = false;  // mentions `headers` (only then are request headers copied in)
    bool uses_session = false;  // mentions `session`
    bool uses_emit = false;     // mentions `emit` (only then is the emit callback made)
    // The values the engine would hand this script (script::NeedsValue); the others are not even built.
    bool needs_query = false, needs_ctx = false, needs_me = false, needs_data = false, needs_previous = false;
  };
  using ScriptSet = std::map<std::string, Script>;
  ScriptSet Build(std::map<std::string, std::string> scripts) const;
  static const Script* Find(const ScriptSet& set, Event event);
  // Fills the variables every event gets (spec §6.3) from `ctx`; `query` (when given) replaces ctx's query.
  void AddCommon(const Script& script, const std::string& method, Context* ctx, script::Invocation& inv,
                 const json::object* query = nullptr) const;
  // Runs one call to its end: the synchronous part, then (spec §6.8) until its dpd callbacks/promises settled.
  // Parameters are references on purpose (GCC 12 coroutine note in docs/architecture.md).
  boost::asio::awaitable<script::Outcome> Execute(const Script& script, script::Invocation& inv, Context* ctx);

  std::string resource_;
  ScriptSet scripts_;
  unsigned present_ = 0;  // bit per Event with a script
  ScriptLimits limits_;
  Emitter* emitter_;
};

}  // namespace dpd::resources
