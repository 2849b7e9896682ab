#pragma once
// The HTTP/1.1 listener (Beast). One io_context per worker thread; a connection lives on one worker for its whole
// life. Keep-alive, pipelining (requests on a connection are served in order; unread bytes wait in the kernel,
// bounded by TCP flow control, never in an unbounded queue), the limits of base/limits.h (HttpLimits), and a
// graceful stop. Knows nothing of resources: every request goes to one Handler.
//
// Thread-safety: Start/Stop/Wait from one controlling thread. The handler runs on the connection's worker thread
// and may co_await; it must not block.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "base/limits.h"
#include "base/status.h"
#include "http/client_address.h"
#include "http/message.h"

namespace dpd::http {

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
// Holds one place under the connection caps (connections_total / connections_per_ip) while it lives: an upgraded
// connection keeps counting against the caps until its new owner drops the lease. Thread-safe; may outlive the
// Server.
using ConnectionLease = std::shared_ptr<void>;
// Called for a request carrying "Upgrade: websocket" before the handler: returning true takes the connection — `fd`
// (the released socket; `ipv6` tells its family) now belongs to the callee, which answers the upgrade itself and
// keeps `lease` for as long as the socket is open. Returning false handles the request normally (fd untouched).
using UpgradeHandler = std::function<bool(Request& req, int fd, bool ipv6, ConnectionLease lease)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 2403;  // 0 = any free port (see Server::port())
  unsigned threads = 0;        // 0 = one per core
  HttpLimits limits;
  bool access_log = true;  // one info line per request (method, path without query, status, bytes, duration)
  // Load balancers whose X-Forwarded-For names the client (--trust-proxy): their connections are not capped per
  // address (they carry many clients), and their requests' remote_ip is the client's (client_address.h).
  TrustedProxies trusted_proxies;
  // Told the status of every request the server refuses itself, before any handler (400, 408, 413, 414, 431, the
  // 503 of the large-response budget): the metrics count them among the errors. Called on a worker thread.
  std::function<void(int status)> on_refused;
  // Bodies that go to disk instead of memory (uploads to resource modules). For a request whose body did not come
  // with its head, `spool_limit` returns the most bytes that body may have, or 0 to read it into memory within
  // limits.body_bytes. A spooled body is written as it arrives to an unnamed temporary file in `spool_dir` (O_TMPFILE:
  // nothing to clean up after a crash) with only the read buffer in memory, and arrives as Request::body_file.
  // Small bodies (a Content-Length within kSpoolAboveBytes and limits.body_bytes) stay in memory anyway. Bodies on
  // disk together stay within spool_total_bytes (503 beyond). Called on a worker thread; must not block.
  std::function<std::uint64_t(const Request& head)> spool_limit;
  std::uint64_t spool_max = 0;          // the largest value spool_limit returns (admitted while reading the head)
  std::uint64_t spool_total_bytes = 0;  // 0: no bound
  std::string spool_dir;                // empty: $TMPDIR or /tmp
};

inline constexpr std::uint64_t kSpoolAboveBytes = 64 * 1024;

class Server {
 public:
  Server(ServerOptions options, Handler handler, UpgradeHandler upgrade = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts the workers. Fails (with the reason) when the address cannot be bound.
  Status Start();
  // The bound port (after Start).
  unsigned short port() const;
  // Stops accepting, closes idle connections, lets in-flight requests finish (at most limits.shutdown_grace),
  // then stops the workers. Idempotent; safe to call from a signal-handling thread.
  void Stop();
  // Blocks until Stop() has completed.
  void Wait();

  // Runs `fn` once on every worker thread (after Start) and waits for all of them: per-thread warm-up such as
  // creating script isolates and compiling scripts before the first request.
  void RunOnEachWorker(const std::function<void()>& fn);
  // Queues `fn` on every worker thread and returns at once (a busy worker runs it when it is free).
  void PostToEachWorker(std::function<void()> fn);
  // Queues `fn(worker index)` on every worker thread and returns at once.
  void PostToWorkers(std::function<void(unsigned)> fn);

  // Open HTTP connections (upgraded ones excluded) / connections counted against the caps (upgraded included).
  std::size_t active_connections() const;
  std::size_t admitted_connections() const;
  unsigned worker_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpd::http
