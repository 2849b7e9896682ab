#pragma once
// EventRunner on V8 (script/): runs a resource's event files (get.js, post.js, …; spec §1.3, §6) with the
// variables of spec §6.3–6.4 and maps what the script did to an EventOutcome (spec §6.6).
//
// Not yet here (the rest of the scripts issue): the in-process `dpd` client and async completion (§6.8, §10),
// `session` and `me` (users issue), realtime delivery of emit() (realtime issue; emits are logged), Login.
//
// Thread-safety: immutable after construction; each call runs on the calling thread's own isolate.

#include <map>
#include <string>

#include "base/limits.h"
#include "resources/events.h"

namespace dpd::resources {

class ScriptEvents : public EventRunner {
 public:
  // `scripts`: lower-case file name → source, as loaded by config/. `resource` names the files in messages.
  ScriptEvents(std::string resource, std::map<std::string, std::string> scripts, const ScriptLimits& limits);

  bool Has(Event event) const override;
  boost::asio::awaitable<EventOutcome> Run(const EventCall& call) override;

  // The Get event over a whole result in one call into V8 (documents_json: a JSON array as stored). Returns the
  // response body (survivors, hidden properties removed), or the outcome that fails the request.
  boost::asio::awaitable<Result<std::string>> RunGetList(Context& ctx, const std::string& documents_json, bool single,
                                                         EventOutcome& failure) override;

  // Compiles every script on the calling thread; one line per syntax error ("resources/x/get.js:3: SyntaxError…").
  std::vector<std::string> Warm() const override;

 private:
  std::string resource_;
  std::map<std::string, std::string> scripts_;
  ScriptLimits limits_;
};

}  // namespace dpd::resources
