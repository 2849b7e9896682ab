#pragma once
// Every numeric limit of dpd lives here (../shared/RELIABILITY.md B2). Each field is configurable at start-up
// (server options / CLI) and each has a test that hits it. Defaults are the values of the B2 table.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dpd {

struct HttpLimits {
  std::size_t request_line_bytes = 8 * 1024;          // 414
  std::size_t header_bytes = 32 * 1024;               // 431 (all header lines together)
  std::size_t header_count = 100;                     // 431
  std::size_t query_string_bytes = 8 * 1024;          // 414
  std::size_t body_bytes = 1024 * 1024;               // 413 (JSON / form bodies)
  std::chrono::milliseconds header_deadline{10'000};  // slowloris: whole header must arrive in time, else close
  std::chrono::milliseconds body_deadline{30'000};    // 408 + close
  std::chrono::milliseconds body_rate_grace{5'000};   // after this, the body must arrive at body_min_rate
  std::size_t body_min_rate = 1024;                   // bytes per second
  std::chrono::milliseconds idle_keepalive{60'000};   // close an idle keep-alive connection
  std::chrono::milliseconds write_deadline{30'000};   // a client that does not read its response is closed
  std::size_t connections_total = 10'000;             // refuse (close at once) beyond this
  std::size_t connections_per_ip = 256;               // refuse beyond this
  // Bodies of at least large_response_bytes are held while a (possibly slow) client reads them: all such bodies
  // together may hold response_bytes_total; a response that would go over it is a 503 + Retry-After instead.
  std::size_t large_response_bytes = 1024 * 1024;
  std::size_t response_bytes_total = 256 * 1024 * 1024;
  // Pipelining: requests on one connection are parsed and answered one at a time, and the read buffer is bounded
  // (request line + headers + 64 KiB), so pipelined requests wait in the kernel under TCP flow control instead of
  // in a queue of ours: B2's "16 queued requests" bound is met with zero queued.
  std::chrono::milliseconds shutdown_grace{10'000};  // graceful stop: in-flight requests get this long
};

struct JsonLimits {
  std::size_t max_depth = 64;               // 400 at depth 65
  std::size_t max_object_keys = 1000;       // 400
  std::size_t max_array_elements = 10'000;  // 400
};

struct QueryLimits {
  std::size_t max_limit = 1000;        // $limit is clamped to this; a query without $limit returns at most this many
  std::size_t max_in_elements = 1000;  // $in / $nin / $all operands: 400 beyond
  std::size_t max_or_branches = 64;    // $or / $and / $nor branches: 400 beyond
  std::size_t max_nesting = 16;        // nested $and/$or/$nor/$elemMatch/$not: 400 beyond
  std::size_t max_regex_length = 256;  // $regex pattern characters: 400 beyond (the engine is linear-time RE2)
  std::size_t max_path_length = 256;   // a dotted field path: 400 beyond
  // RE2 is linear in the input, but its cost per input byte grows with the compiled program: `.{0,1000}z` is one
  // 11-character pattern and a program of thousands of instructions. Both bounds answer 400.
  std::size_t max_regex_program = 1000;  // RE2 ProgramSize() of one $regex (`.{0,100}z` is 905)
  std::size_t max_regex_repeat = 100;    // the largest counted repetition {n} / {n,m} in a $regex
  // Each read (find / count) gets this long in the store (SQLite progress handler, MongoDB maxTimeMS): 503 beyond,
  // the work abandoned. Bounds how long one request can hold a worker, whatever the query.
  std::chrono::milliseconds time_budget{2000};
  // Aggregations (docs/aggregate.md) run within time_budget too. Beyond these: 400.
  std::size_t aggregate_stages = 8;      // stages of one pipeline
  std::size_t aggregate_outputs = 16;    // outputs of its $group, and fields of an object _id
  std::size_t aggregate_groups = 10000;  // groups it may make (a $limit does not lift it)
};

struct StoreLimits {
  // A stored document, as JSON, after update commands are applied ($push grows a document past any body limit):
  // 413, nothing written. MongoDB's own bound is 16 MiB of BSON.
  std::size_t document_bytes = 16 * 1024 * 1024;
  // Documents of one bulk write: a POST of an array (400 beyond, nothing written), and the documents one PUT by
  // query may update (the rest are left, the count says how many were).
  std::size_t bulk_documents = 1000;
};

struct ScriptLimits {
  std::chrono::milliseconds wall_time{1000};  // per event-script call: 500 "script timeout", isolate reused
  std::size_t heap_bytes = 64 * 1024 * 1024;  // per isolate: 500 "ran out of memory", isolate replaced
  std::size_t cache_entries = 1024;           // compiled scripts kept per isolate (LRU)
  // per event, from its start until its last dpd callback/promise settled (spec §6.8): 500 "script timeout"
  std::chrono::milliseconds event_time{10000};
  std::size_t recursion_max = 16;              // highest $limitRecursion a request may ask for: 400 above it
  std::size_t internal_calls = 1000;           // dpd.* calls one request tree may make
  std::chrono::milliseconds tree_time{30000};  // a request tree's dpd.* calls may start until this long after it
  std::size_t emits = 10000;                   // emit() calls per event: beyond, emit throws (a 400)
  std::size_t source_bytes = 1024 * 1024;      // an event script file: a larger one is not loaded, nor written (413)
};

// Resource modules (custom types from node_modules) on the embedded Node.js host (script/node_host.h).
struct ModuleLimits {
  // from a request's hand-over until the module calls ctx.done / res.end: 500 "Module timed out", the late answer
  // is dropped
  std::chrono::milliseconds request_time{30000};
  // one stretch of module JavaScript without returning to the event loop (a loop): stopped, the host restarted,
  // what was in flight answered 500
  std::chrono::milliseconds busy_time{2000};
  std::size_t heap_bytes = 512 * 1024 * 1024;  // the host's JS heap after a collection: beyond, the host is restarted
  std::size_t body_bytes = 1024 * 1024;        // a request body handed to a module: 413 beyond
  // An upload to a module (a body that is neither JSON nor a urlencoded form, chunked or over 64 KiB) is written to
  // an unnamed temporary file as it arrives and read by the module from there: 413 beyond this many bytes
  std::size_t upload_bytes = 256 * 1024 * 1024;
  // uploads being received or held by modules at once, together: 503 beyond (bounds the temporary disk space)
  std::size_t uploads_total_bytes = 1024ull * 1024 * 1024;
  std::size_t response_bytes = 64 * 1024 * 1024;  // what one module response may write: 500 beyond
  std::size_t in_flight = 1000;                // requests a module host holds at once: 503 beyond
};

struct SessionLimits {
  std::chrono::milliseconds max_age{30LL * 24 * 3600 * 1000};  // Deployd's sessions.maxAge: expired = anonymous
  std::size_t cache_entries = 100000;             // sessions kept in memory (LRU; the rest are read on demand)
  std::size_t login_attempts = 5;                 // per IP+username per login_window: beyond, 429
  std::chrono::milliseconds login_window{15000};  // (counted before the password is verified: holds under bursts)
  std::size_t signups = 20;                       // anonymous POSTs to a users collection per IP per signup_window
  std::chrono::milliseconds signup_window{5000};  // beyond: 429 (root and internal calls are not counted)
  std::size_t password_bytes = 1024;              // longer passwords: 400 (bounded hashing cost)
  // argon2id cost of new password hashes (OWASP minimum: 19 MiB, 2 passes). Lower only for benchmarks and tests:
  // dpd warns at start-up when it is below the minimum.
  // Password reset (POST /users/forgot, /users/reset): attempts per address per window for each (429 beyond), how
  // long a token is valid, and how long /forgot takes at least — known and unknown users alike (no enumeration).
  std::size_t reset_attempts = 10;
  std::chrono::milliseconds reset_window{15LL * 60 * 1000};
  std::chrono::milliseconds reset_token_time{60LL * 60 * 1000};
  std::chrono::milliseconds reset_answer_time{250};
  std::size_t hash_memory_kib = 19 * 1024;
  std::size_t hash_passes = 2;
};

struct RealtimeLimits {
  std::size_t max_payload = 1000000;          // engine.io message / polling body (socket.io 4's maxPayload)
  std::size_t attachments = 10;               // binary attachments per socket.io packet: beyond, close
  std::size_t rooms_per_socket = 1000;        // joins beyond are ignored (logged)
  std::size_t connections = 10000;            // sockets in total: beyond, the handshake is refused (503)
  std::size_t queue_bytes = 4 * 1024 * 1024;  // unsent bytes per socket: beyond, the slow client is dropped
  // Unsent bytes of all sockets together (a broadcast frame is encoded once and counted once): beyond, the sockets
  // with the longest queues are dropped first until the total is under it again.
  std::size_t queue_bytes_total = 256 * 1024 * 1024;
  std::size_t sessions_per_ip = 256;   // Engine.IO sessions (polling + WebSocket) per address: 429 beyond
  std::size_t handshakes_per_ip = 50;  // new Engine.IO sessions per address per second (burst 50): 429
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  // After dpd closes a WebSocket (a message over max_payload, a bad frame), what the client still sends is read and
  // dropped until its end — at most this many bytes, for at most this long — so that the close frame reaches it
  // (1009, 1002) instead of being lost to the reset that closing on unread bytes makes.
  std::size_t close_drain_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds close_drain{5000};
  // Messages waiting to be published on the Redis bus (several nodes, --bus): beyond, new ones are dropped and
  // counted (Redis slow or down) — a request never waits for the bus.
  std::size_t bus_queue_bytes = 64 * 1024 * 1024;
};

struct LogLimits {
  // A request that takes longer is logged at warn level with where its time went, and kept among the slowest
  // recent requests of the Performance page.
  std::chrono::milliseconds slow_request{1000};
};

struct Limits {
  HttpLimits http;
  RealtimeLimits realtime;
  JsonLimits json;
  QueryLimits query;
  ScriptLimits script;
  ModuleLimits modules;
  SessionLimits session;
  StoreLimits store;
  LogLimits log;
};

// Sets one limit by its name ("http.body_bytes", "http.header_deadline_ms", "json.max_depth", …) from a decimal
// value: the `dpd --limit name=value` option. BadRequest for an unknown name or a value that is not a positive
// integer.
Status SetLimit(Limits& limits, std::string_view name, std::string_view value);

// Every limit name SetLimit accepts, with its current value ("http.body_bytes=1048576").
std::vector<std::string> DescribeLimits(const Limits& limits);

}  // namespace dpd
