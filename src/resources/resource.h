#pragma once
// The transport-neutral side of a request: what a resource reads (Context) and what it answers (Reply), and the
// Resource base every resource type derives from. No HTTP types here (ARCHITECTURE §3: resources/ never uses
// http/); server/ converts between the two.
//
// Thread-safety: a Resource is shared by all worker threads and must be safe to call concurrently; Context and
// Reply belong to one request.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "json/json.h"
#include "session/session_store.h"

namespace dpd::resources {

// The one jsName rule (spec §4.4, §10): the resource name without its non-alphanumeric characters ("a-b/c" → "abc"),
// the key of `dpd.<key>` in /dpd.js and in scripts.
std::string JsName(std::string_view resource_name);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class Router;

// In-process dpd calls (spec §10). A request tree shares its recursion limit ($limitRecursion of the top-level
// request) and a count of all its calls; each call knows its ancestors' "<METHOD> <path>" keys. Deployd kept one
// stack for the whole tree, so siblings starved each other (a loop of posts stopped after two; issues #48, #788);
// dpd counts a key along the ancestor chain only, which stops recursion at the same depth.
struct CallTree {
  std::size_t limit = 2;  // $limitRecursion
  std::size_t calls = 0;  // every dpd call of the tree (bounded by ScriptLimits::internal_calls)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();  // bounded by tree_time
  bool emitted = false;  // an event of the tree called emit(): the response waits until the frames are queued
};
struct CallFrame {
  std::string key;                          // "GET /todos"
  std::shared_ptr<const CallFrame> parent;  // the call that made this one (null: the client's request)
};

// Where one request's time went and why it failed, for the metrics and the slow-request log. Shared by the
// request's in-process dpd calls (held, as a call may outlive its request); a request's coroutines run on its
// worker thread one at a time, so plain fields suffice.
struct Trace {
  std::chrono::nanoseconds script{0};  // event scripts running on the thread (not what they waited for)
  std::chrono::nanoseconds store{0};   // store calls, from the call to its answer (queues and commits included)
  const char* error_kind = nullptr;    // a failure the status alone does not tell: "script_timeout", …
};

// Adds the time from its construction to Stop() (or its end) to `*slot`; nothing when `trace` is null.
class StageTimer {
 public:
  StageTimer(Trace* trace, std::chrono::nanoseconds Trace::*slot)
      : slot_(trace ? &(trace->*slot) : nullptr), t0_(trace ? std::chrono::steady_clock::now() : Clock::time_point{}) {}
  ~StageTimer() { Stop(); }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;
  void Stop() {
    if (slot_ == nullptr) return;
    *slot_ += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0_);
    slot_ = nullptr;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::chrono::nanoseconds* slot_;
  Clock::time_point t0_;
};

struct Context {
  std::string method;                   // after the POST-only `_method` override
  std::string url;                      // raw path below the resource, always starting with '/' ("/1234")
  json::object query;                   // parsed query (spec §3.2)
  std::optional<json::value> body;      // parsed body (spec §3.3); empty when not parsed
  const HeaderList* headers = nullptr;  // lower-case names
  const std::string* target = nullptr;    // the request's whole target, path and query ("/hello/x?a=1")
  const std::string* raw_body = nullptr;  // the body's bytes as received (resource modules parse their own)
  // An upload on disk instead (http::ServerOptions::spool_limit): its unnamed file's descriptor, kept open by
  // `body_file`, and its size; raw_body is then empty.
  int body_fd = -1;
  std::shared_ptr<const void> body_file;
  std::uint64_t body_file_bytes = 0;
  bool is_root = false;
  std::uint64_t request_id = 0;
  std::string remote_ip;                      // the client's address (rate limits)
  int client_fd = -1;                         // the client's socket: long reads stop when it has closed (-1: none)
  session::SessionPtr session;                // the caller's stored session; null = anonymous (spec §8)
  session::SessionStore* sessions = nullptr;  // where scripts' session.save()/joinRoom() go
  std::optional<json::object> me;             // the session's user without password, when still valid (spec §3.7)
  bool session_invalidated = false;           // the session's user changed credentials: X-Session-Invalidated
  bool bearer = false;                        // the session id came in Authorization: Bearer (no cookie is set)
  bool internal = false;                      // a dpd.* call from a script (spec §10)
  std::shared_ptr<CallTree> calls;            // set at the first dpd call of a request tree
  std::shared_ptr<const CallFrame> frame;     // this request's place in it (null: a client's request)
  std::shared_ptr<const Router> router;       // the request's snapshot's router: where in-process dpd calls go
  std::shared_ptr<Trace> trace;               // the client's request's (in-process calls share it); may be null

  const std::string* header(std::string_view lower_name) const;
};

// `$limitRecursion` as the request asks for it, in its query or else its body (spec §10): nullopt when absent or
// not a number (a string is read as JavaScript's parseFloat would). Negative and NaN values are returned as given.
std::optional<double> RequestedRecursion(const Context& ctx);

// A reply body still being produced (a resource module writing its response piece by piece): the pieces in order.
class ReplyStream {
 public:
  virtual ~ReplyStream() = default;
  // The next piece; "" at the normal end; nullopt when the producer failed or went quiet for too long (the HTTP
  // connection is then closed without the last chunk, so the client sees a truncated body, not a complete one).
  // Called on the reply's executor, one call at a time.
  virtual boost::asio::awaitable<std::optional<std::string>> Next() = 0;
};

struct Reply {
  enum class Kind {
    kNext,     // not handled here: try the next matching resource (spec §4.1)
    kJson,     // `json` as application/json with the no-cache headers (spec §3.8)
    kRawJson,  // `text` is already JSON: sent as kJson would be
    kText,     // `text` as text/html; charset=utf-8 (spec §3.8)
    kEmpty,    // no body (204, or an empty 200)
    kStatic,   // a file from `static_root`, path `static_path` (served by the transport)
    kError,    // error body `json` (an object) with "status" appended (spec §3.9)
    kBody,     // `text` as the body with exactly `headers` (a resource module wrote its own response)
    kStream,   // as kBody, the body coming from `stream` as it is written (sent chunked)
  };
  Kind kind = Kind::kNext;
  int status = 200;
  json::value json;
  std::string text;
  HeaderList headers;
  const char* error_kind = nullptr;  // for the metrics, when the status alone does not tell: "validation", …
  std::filesystem::path static_root;
  std::string static_path;
  std::shared_ptr<ReplyStream> stream;  // kStream

  static Reply Next() { return {}; }
  static Reply Json(json::value v, int status = 200);
  static Reply Empty(int status = 204);
  // {"message": message} (+ "statusCode" when with_status_code), status appended by the server.
  static Reply Error(int status, std::string_view message, bool with_status_code = false);
  // 400 {"errors": {field: message, …}} (spec §3.9).
  static Reply Errors(json::object errors);
  // The one mapping from a Status to an error reply: property errors as Errors, otherwise {"message"} with the
  // status's HTTP status (+ "statusCode" when with_status_code).
  static Reply FromStatus(const Status& s, bool with_status_code = false);
  // A store's (or the session store's) failure: property errors as FromStatus; an abandoned read 503 "Query took
  // too long: …"; unavailable 503 "Database unavailable"; anything else 500 "Internal error" — internals are
  // logged, never sent. 503s carry Retry-After.
  static Reply FromStore(const Status& s);
};

// What a resource type is, as the registry (resources/registry.h) records it; callers ask these instead of testing
// type names.
struct TypeTraits {
  bool collection = false;   // stores documents under its name (export/import, rename moves its data)
  bool users = false;        // a user collection: login/logout/me, sessions point at it
  bool client = false;       // offered as dpd.<jsName> in /dpd.js and to scripts
  std::string label;         // the dashboard's name for the type ("Users Collection"); empty: the type's name
  std::string default_path;  // what the dashboard proposes for a new one ("/my-objects")
  std::vector<std::string> dashboard_pages;  // the dashboard's pages for it ("Properties", "Data", "Events", "API")
  std::vector<std::string> events;           // the event script files it runs ("get.js", …)
  json::value settings_form;  // a module type's `basicDashboard` ({"settings": [{name, type, description}, …]}) or null
};

class Resource {
 public:
  // `name` is the resource name ("todos", "a/b"); the empty name is the root (static files at "/").
  Resource(std::string name, std::string type);
  virtual ~Resource() = default;

  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  // "/" + name, or "/" for the root.
  const std::string& path() const { return path_; }
  // The registered type's traits (all false for resources the registry did not make, such as static files).
  const TypeTraits& traits() const { return traits_; }
  // Set by TypeRegistry::Make.
  void set_traits(TypeTraits traits) { traits_ = std::move(traits); }

  virtual boost::asio::awaitable<Reply> Handle(Context& ctx) = 0;
  // Prepares the calling worker thread to serve this resource (compiles its event scripts into the thread's
  // isolate); one line per problem found. Called on every worker before the resource serves there.
  virtual std::vector<std::string> Warm() const { return {}; }
  // True when it reads request bodies itself, so a large one may come on disk (Context::body_file) instead of in
  // memory: resource modules' uploads.
  virtual bool TakesUploads() const { return false; }

 private:
  std::string name_, type_, path_;
  TypeTraits traits_;
};

}  // namespace dpd::resources
