#pragma once
// The event points of a collection (spec §6.1): BeforeRequest, Validate, Post, Put, Get, Delete, AfterCommit.
// The collection calls them, in the spec's order, through this interface: ScriptEvents (resources/script_events.h)
// runs the app's JavaScript files on V8; NoEvents has every event absent.
//
// Thread-safety: an implementation is shared by all worker threads.

#include <boost/asio/awaitable.hpp>

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "json/json.h"
#include "resources/resource.h"

namespace dpd::resources {

enum class Event { kBeforeRequest, kValidate, kPost, kPut, kGet, kDelete, kAfterCommit, kLogin, kForgot };

struct EventCall {
  Event event;
  std::string method;                      // "GET", "POST", "PUT", "DELETE" (the `event`/`method` script variables)
  json::object* data = nullptr;            // `this`: the document (or body) the event may change
  const json::object* previous = nullptr;  // PUT: the stored document before the change
  json::object* query = nullptr;           // the raw query (BeforeRequest/Get may change it)
  Context* ctx = nullptr;
  bool success = false;  // Login: the credentials were right
  std::string token;     // Forgot: the plain password-reset token (the store keeps only its digest)
};

struct EventOutcome {
  Status status;                    // a cancel()/exception: the request (or, for Get/Delete lists, the item) fails,
                                    // answered with status.http_status() (cancel(msg, 401) → 401)
  bool status_code_field = false;   // the error body carries "statusCode" (a status was given, spec §6.6)
  bool fatal = false;               // an exception or a stopped script (not cancel()): fails a whole list too
  json::object errors;              // error(field, msg) calls: 400 {"errors": …}
  std::vector<std::string> hidden;  // hide(): left out of the response
  std::vector<std::string> protected_fields;  // protect(): not written
  bool cancelled() const { return !status.ok(); }
  // The error reply for a cancelled event.
  Reply ErrorReply() const { return Reply::FromStatus(status, status_code_field); }
};

class EventRunner {
 public:
  virtual ~EventRunner() = default;
  virtual bool Has(Event event) const = 0;
  // Prepares the calling thread to run events (compiles the scripts there); returns one line per problem.
  virtual std::vector<std::string> Warm() const { return {}; }
  virtual boost::asio::awaitable<EventOutcome> Run(const EventCall& call) = 0;
  // The Get event over a whole result at once (`documents_json`: a JSON array of documents as clients see them).
  // Returns the response body — survivors, hidden properties removed — or fails with `failure` filled in. With
  // `single` (a by-id GET) a cancel fails the request. Called only when Has(Event::kGet).
  virtual boost::asio::awaitable<Result<std::string>> RunGetList(Context& ctx, const std::string& documents_json,
                                                                 bool single, EventOutcome& failure) = 0;
};

// No event scripts: every event is absent and running one changes nothing.
class NoEvents : public EventRunner {
 public:
  bool Has(Event) const override { return false; }
  boost::asio::awaitable<EventOutcome> Run(const EventCall&) override { co_return EventOutcome{}; }
  boost::asio::awaitable<Result<std::string>> RunGetList(Context&, const std::string& documents_json, bool,
                                                         EventOutcome&) override {
    co_return documents_json;
  }
};

}  // namespace dpd::resources
