#pragma once
// The socket.io server (spec §12, §8.4–8.5, ARCHITECTURE §7): Engine.IO 3 and 4 (chosen by the EIO query
// parameter) over HTTP long-polling and WebSocket, the upgrade from one to the other, heartbeats in each version's
// direction, the default socket.io namespace, rooms, `server:setSession` binding with `server:acksession`, rooms
// `dpd_uid:<uid>` and the session's `_rooms`.
//
// Threading: every socket, room and binding lives on the hub's own thread (one io_context), so none of it needs a
// lock. WebSocket connections are moved onto that thread when they upgrade; a polling request arrives on an HTTP
// worker, hops to the hub thread and back with its answer. Emit/SessionChanged may be called from any thread.
//
// Bounded: sockets in total (realtime.connections), message size (maxPayload), attachments per packet, rooms per
// socket, and a send queue per socket — a client that does not read is disconnected, not buffered forever.

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/limits.h"
#include "json/json.h"
#include "session/session_store.h"

namespace dpd::realtime {

// An HTTP request to /socket.io/, as the HTTP side hands it over (no transport types).
struct HttpExchange {
  std::string method;                                        // GET / POST / …
  std::map<std::string, std::string> query;                  // EIO, transport, sid, b64, …
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names (a WebSocket upgrade needs them)
  std::string target;                                        // path + query, for the WebSocket handshake
  std::string body;
  std::string content_type;
  std::string cookie_sid;  // Deployd's `sid` cookie: binds at handshake (spec §8.4)
  std::string remote_ip;   // per-address caps (RELIABILITY B2)
  bool watcher = false;    // a root client that asked for the server's figures (the dashboard's Performance page)
};

struct HttpAnswer {
  int status = 200;
  std::string content_type = "text/plain; charset=UTF-8";
  std::string body;
};

class Hub {
 public:
  Hub(const RealtimeLimits& limits, const JsonLimits& json_limits, session::SessionStore* sessions);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  void Start();
  // Closes every socket (pending polls are answered) and stops the thread. Idempotent.
  void Stop();

  // A polling request (or an invalid one): answered on the calling coroutine's executor.
  boost::asio::awaitable<HttpAnswer> Poll(HttpExchange exchange);
  // A WebSocket upgrade: `fd` (an accepted TCP socket) now belongs to the hub, which completes the handshake — or
  // refuses it before the 101 with the engine's error (400 + JSON, or 429/503 at a cap) — and closes it. `lease`
  // (the connection's place under the HTTP connection caps) is held until the socket is closed.
  void Upgrade(HttpExchange exchange, int fd, bool ipv6, std::shared_ptr<void> lease);

  // socket.io EVENT `event` with `data` to every connected socket (rooms empty) or to the sockets in any of
  // `rooms`. Thread-safe; the message is encoded once.
  void Emit(std::vector<std::string> rooms, const std::string& event, const json::value& data);
  // Completes once every Emit called before it has been queued to the sockets and their writers have started
  // (two turns of the hub's loop): a response awaited after it cannot overtake its request's frames.
  boost::asio::awaitable<void> Fence();
  // A stored session changed (rooms saved: `session` set) or ended (`session` null): its sockets follow.
  void SessionChanged(const std::string& sid, session::SessionPtr session);

  // `event` with `data` to the watcher sockets only (HttpExchange::watcher); nothing when there are none.
  void EmitToWatchers(const std::string& event, const json::value& data);

  std::size_t sockets() const { return count_.load(); }
  // For the metrics: sockets by Engine.IO generation and transport and the rooms, as of the hub's last tick (once
  // a second); frames queued and sockets dropped, live.
  struct Figures {
    std::size_t polling[2] = {};    // [0]: EIO 3 (socket.io 1–2), [1]: EIO 4 (socket.io 3–4)
    std::size_t websocket[2] = {};  // the same, upgraded or direct WebSocket
    std::size_t rooms = 0;          // distinct rooms with a member
    std::size_t watchers = 0;
    std::uint64_t deliveries = 0;  // frames queued to a socket (a broadcast to n sockets counts n)
    std::uint64_t dropped = 0;     // slow consumers dropped at the per-socket or the global queue bound
  };
  Figures figures() const;
  // Bytes of the frames waiting in send queues (each shared frame counted once).
  std::size_t queued_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<std::size_t> count_{0};
};

}  // namespace dpd::realtime
