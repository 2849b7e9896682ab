#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "http/request_reader.h"

namespace dpd::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// A connection as seen by Stop(): idle ones are closed at once, busy ones finish their request.
struct ConnState {
  beast::tcp_stream* stream = nullptr;
  bool busy = false;
};

// A spooled body that cannot be stored (disk full, no temporary file, the bound on bodies on disk): 503.
boost::system::error_code NoSpace() {
  return boost::system::errc::make_error_code(boost::system::errc::no_space_on_device);
}

std::string ErrorJson(int status, std::string_view message) {
  std::string body = "{\"message\":\"";
  body += message;  // only our own fixed texts pass here
  body += "\",\"status\":" + std::to_string(status) + "}";
  return body;
}

Response TransportError(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = ErrorJson(status, message);
  r.Set("Content-Type", "application/json");
  r.close = true;
  return r;
}

// Connections counted against connections_total / connections_per_ip: HTTP ones and upgraded ones (whose lease
// lives with their new owner, possibly after the Server is gone — hence shared).
struct Admission {
  std::mutex mu;
  std::size_t total = 0;                                // guarded by mu
  std::unordered_map<std::string, std::size_t> per_ip;  // guarded by mu
  std::atomic<std::size_t> admitted{0};

  bool Take(const std::string& ip, const HttpLimits& limits, bool proxy) {
    std::lock_guard lock(mu);
    if (total >= limits.connections_total) return false;
    if (proxy) {  // a trusted load balancer: only the total caps it
      ++total;
      admitted = total;
      return true;
    }
    std::size_t& n = per_ip[ip];
    if (n >= limits.connections_per_ip) return false;  // n > 0: limits are positive
    ++n;
    ++total;
    admitted = total;
    return true;
  }
  void Give(const std::string& ip, bool proxy) {
    std::lock_guard lock(mu);
    auto it = proxy ? per_ip.end() : per_ip.find(ip);
    if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
    --total;
    admitted = total;
  }
};

}  // namespace

struct Server::Impl {
  // Coroutine frames still suspended on a worker are destroyed with their io_context; their cleanup touches the
  // members below, so the workers go first.
  ~Impl() {
    acceptor.reset();
    workers.clear();
  }

  ServerOptions options;
  Handler handler;
  UpgradeHandler upgrade;
  std::vector<std::unique_ptr<asio::io_context>> workers;
  std::vector<std::list<ConnState*>> conns;  // conns[i] only touched on worker i's thread
  std::vector<std::thread> threads;
  std::unique_ptr<tcp::acceptor> acceptor;
  unsigned short bound_port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> active{0};
  std::atomic<std::size_t> large_bytes{0};  // bodies >= large_response_bytes being written
  // request bodies on disk (SpoolBody) until their requests let go of them; shared: a request may outlive us
  std::shared_ptr<std::atomic<std::uint64_t>> spooled_bytes = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<unsigned> next_worker{0};
  std::shared_ptr<Admission> admission = std::make_shared<Admission>();
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;         // guarded by done_mu
  bool stop_called = false;  // guarded by done_mu

  // The peer, or behind a trusted proxy the client it names; several X-Forwarded-For fields count as one list.
  std::string ClientIp(const std::string& peer, const Request& req) const {
    if (!options.trusted_proxies.Trusts(peer)) return peer;
    std::string forwarded;
    bool any = false;
    for (const auto& [name, value] : req.headers) {
      if (name != "x-forwarded-for") continue;
      if (any) forwarded += ',';
      forwarded += value;
      any = true;
    }
    return options.trusted_proxies.ClientOf(peer, any ? &forwarded : nullptr);
  }

  // A place under the caps for `ip`, or null when the caps are reached. Released when the last copy is dropped.
  ConnectionLease Admit(const std::string& ip) {
    const bool proxy = options.trusted_proxies.Trusts(ip);
    if (!admission->Take(ip, options.limits, proxy)) return nullptr;
    std::shared_ptr<Admission> a = admission;
    return ConnectionLease(static_cast<void*>(a.get()), [a, ip, proxy](void*) { a->Give(ip, proxy); });
  }

  asio::awaitable<void> AcceptLoop() {
    for (;;) {
      unsigned w = next_worker++ % workers.size();
      auto [ec, socket] = co_await acceptor->async_accept(*workers[w], kTuple);
      if (stopping) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        // EMFILE and friends: back off instead of spinning.
        spdlog::warn("accept failed error=\"{}\"", ec.message());
        asio::steady_timer t(acceptor->get_executor(), std::chrono::milliseconds(100));
        co_await t.async_wait(kTuple);
        continue;
      }
      boost::system::error_code ep_ec;
      auto ep = socket.remote_endpoint(ep_ec);
      std::string ip = ep_ec ? std::string("?") : ep.address().to_string();
      ConnectionLease lease = Admit(ip);
      if (!lease) {
        spdlog::warn("connection refused ip={} reason=limit admitted={}", ip, admission->admitted.load());
        socket.close(ep_ec);
        continue;
      }
      socket.set_option(tcp::no_delay(true), ep_ec);
      ++active;
      asio::co_spawn(*workers[w], Connection(std::move(socket), ip, w, std::move(lease)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("connection ended by exception error=\"{}\"", ex.what());
        }
      });
    }
  }

  // The status line and headers, written by hand: one buffer, one write (Beast's serializer cost more than the
  // rest of a small response). Header values are our own; CR/LF are stripped anyway.
  static std::string SerializeHead(const Response& res, bool keep_alive, bool http10, bool no_body,
                                   std::uint64_t content_length) {
    std::string out;
    out.reserve(192 + res.body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(res.status);
    out += ' ';
    out += ReasonPhrase(res.status);
    out += "\r\n";
    for (const auto& [name, value] : res.headers) {
      if (beast::iequals(name, "content-length") || beast::iequals(name, "connection") ||
          beast::iequals(name, "transfer-encoding")) {
        continue;
      }
      out += name;
      out += ": ";
      for (char c : value) {
        if (c != '\r' && c != '\n') out += c;
      }
      out += "\r\n";
    }
    if (res.source && !no_body) {
      if (!http10) out += "Transfer-Encoding: chunked\r\n";  // HTTP/1.0: the body ends where the connection does
    } else if (!no_body) {
      out += "Content-Length: ";
      out += std::to_string(content_length);
      out += "\r\n";
    }
    if (!keep_alive) {
      out += "Connection: close\r\n";
    } else if (http10) {
      out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    return out;
  }

  // A body from a BodySource: each piece as a chunk (HTTP/1.1) or as it is (HTTP/1.0, the connection then closes).
  // A producer that fails leaves the body unterminated and `ok` false: the connection is closed.
  asio::awaitable<void> WriteStream(beast::tcp_stream& stream, BodySource& source, bool http10, bool& ok,
                                    std::uint64_t& written) {
    const auto& limits = options.limits;
    for (;;) {
      std::optional<std::string> piece = co_await source.Next();
      if (!piece) {
        ok = false;
        co_return;
      }
      std::string frame;
      if (!http10) {
        char size[20];
        const int n = std::snprintf(size, sizeof size, "%zx\r\n", piece->size());
        frame.reserve(static_cast<std::size_t>(n) + piece->size() + 7);
        frame.append(size, static_cast<std::size_t>(n));
        frame += *piece;
        frame += "\r\n";  // after the last, empty chunk: the end of the (empty) trailer section
      } else {
        frame = *piece;
      }
      written += piece->size();
      stream.expires_after(limits.write_deadline);
      if (!frame.empty()) {
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(frame), kTuple);
        if (ec) {
          ok = false;
          co_return;
        }
      }
      if (piece->empty()) co_return;  // "0\r\n\r\n" (or nothing for HTTP/1.0) ended the body
    }
  }

  asio::awaitable<void> WriteResponse(beast::tcp_stream& stream, const Response& res, bool keep_alive, bool& ok,
                                      bool http10 = false) {
    std::uint64_t ignored = 0;
    co_await WriteResponse(stream, res, keep_alive, ok, http10, ignored);
  }

  asio::awaitable<void> WriteResponse(beast::tcp_stream& stream, const Response& res, bool keep_alive, bool& ok,
                                      bool http10, std::uint64_t& streamed) {
    const auto& limits = options.limits;
    stream.expires_after(limits.write_deadline);
    const bool no_body = res.status == 204 || res.status == 304 || (res.status >= 100 && res.status < 200);
    const std::uint64_t length = res.file ? res.file->length : res.body.size();
    std::string head = SerializeHead(res, keep_alive, http10, no_body, length);
    const bool with_body = !no_body && !res.head && !res.file;
    // Small bodies go in the head's buffer (one write); a large one is written from where it is, not copied.
    const bool gather = with_body && res.body.size() >= 16 * 1024;
    if (with_body && !gather) head += res.body;
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(gather ? res.body : std::string_view())};
    auto [ec, n] = co_await asio::async_write(stream, buffers, kTuple);
    if (ec) {
      ok = false;
      co_return;
    }
    if (res.source) {
      if (res.head || no_body) co_return;
      co_await WriteStream(stream, *res.source, http10, ok, streamed);
      co_return;
    }
    if (res.file && !res.head && !no_body) {
      std::vector<char> chunk(64 * 1024);
      std::uint64_t left = res.file->length, at = res.file->offset;
      while (left > 0) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
        ssize_t got = ::pread(res.file->file->fd(), chunk.data(), want, static_cast<off_t>(at));
        if (got <= 0) break;
        stream.expires_after(limits.write_deadline);
        auto [wec, wn] =
            co_await asio::async_write(stream, asio::buffer(chunk.data(), static_cast<std::size_t>(got)), kTuple);
        if (wec) break;
        left -= static_cast<std::uint64_t>(got);
        at += static_cast<std::uint64_t>(got);
      }
      if (left > 0) ok = false;  // the header promised bytes we could not send: close
    }
  }

  // Maps a parse error to a response (or nullopt: just close).
  // `start_line_done`: the request line was parsed (Beast consumes it before the fields), so a size error is about
  // the headers (431), not the request line (414).
  void Refused(int status) const {
    if (options.on_refused) options.on_refused(status);
  }

  std::optional<Response> ParseErrorResponse(const boost::system::error_code& ec, bool start_line_done, bool in_body) {
    const int status = ParseErrorStatus(ec, start_line_done, in_body);
    if (status == 0) return std::nullopt;
    return TransportError(status, ReasonPhrase(status));
  }

  // Reads the rest of a body into `parser`. It must arrive within body_deadline and, after body_rate_grace, at
  // body_min_rate on average. The deadline is a separate timer that cancels the read (the stream's own expiry
  // would close the socket, and the client is owed a 408): beast::error::timeout.
  template <class Parser>
  asio::awaitable<boost::system::error_code> ReadBody(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                     Parser& parser, const std::function<bool(std::size_t)>& on_bytes = {}) {
    const auto& limits = options.limits;
    const auto start = Clock::now();
    std::uint64_t got = 0;
    asio::steady_timer body_timer(stream.get_executor());
    bool timed_out = false;
    stream.expires_never();
    while (!parser.is_done()) {
      auto rate_deadline =
          start + std::max<Clock::duration>(
                      limits.body_rate_grace,
                      std::chrono::milliseconds(1000 * got / std::max<std::size_t>(1, limits.body_min_rate)));
      body_timer.expires_at(std::min(start + limits.body_deadline, rate_deadline));
      body_timer.async_wait([&timed_out, &stream](boost::system::error_code tec) {
        if (tec) return;  // cancelled: the read finished first (captures are only touched on expiry)
        timed_out = true;
        boost::system::error_code ignored;
        stream.socket().cancel(ignored);
      });
      auto [ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, kTuple);
      body_timer.cancel();
      if (timed_out) ec = beast::error::timeout;
      if (ec) co_return ec;
      got += n;
      if (on_bytes && !on_bytes(n)) co_return NoSpace();
    }
    co_return boost::system::error_code{};
  }

  // Reads the rest of a body into an unnamed temporary file (ServerOptions::spool_limit). The bytes count against
  // spool_total_bytes until the last owner of `file` lets go. Errors: those of ReadBody; no_space when the disk is
  // full, the file cannot be made or the total would pass its bound.
  asio::awaitable<boost::system::error_code> SpoolBody(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                      RequestParser&& head, std::shared_ptr<const FileHandle>& file,
                                                      std::uint64_t& bytes) {
    const std::string dir = !options.spool_dir.empty()        ? options.spool_dir
                            : std::getenv("TMPDIR") != nullptr ? std::string(std::getenv("TMPDIR"))
                                                               : std::string("/tmp");
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {  // a file system without O_TMPFILE: a named file, unlinked at once
      std::string path = dir + "/dpd-upload-XXXXXX";
      fd = ::mkostemp(path.data(), O_CLOEXEC);
      if (fd >= 0) ::unlink(path.c_str());
    }
    if (fd < 0) {
      spdlog::error("cannot make a temporary file for an upload in {} error=\"{}\"", dir, std::strerror(errno));
      co_return NoSpace();
    }
    // The bytes on disk are counted from the first one written until the file is closed.
    struct Counted {
      std::shared_ptr<std::atomic<std::uint64_t>> total;
      std::uint64_t n = 0;
    };
    auto counted = std::make_shared<Counted>(Counted{spooled_bytes, 0});
    std::shared_ptr<const FileHandle> owner(new FileHandle(fd), [counted](const FileHandle* f) {
      counted->total->fetch_sub(counted->n);
      delete f;
    });
    const int writer_fd = ::dup(fd);
    bhttp::request_parser<bhttp::file_body> parser(std::move(head));
    boost::system::error_code ec;
    beast::file out;
    out.native_handle(writer_fd);
    parser.get().body().reset(std::move(out), ec);
    if (ec) co_return NoSpace();
    const std::uint64_t bound = options.spool_total_bytes;
    ec = co_await ReadBody(stream, buffer, parser, [&](std::size_t n) {
      counted->n += n;
      const std::uint64_t now = counted->total->fetch_add(n) + n;
      return bound == 0 || now <= bound;
    });
    if (ec) co_return ec;
    struct stat st {};
    if (::fstat(fd, &st) != 0) co_return NoSpace();
    bytes = static_cast<std::uint64_t>(st.st_size);
    file = std::move(owner);
    co_return boost::system::error_code{};
  }

  asio::awaitable<void> Connection(tcp::socket socket, std::string ip, unsigned w, ConnectionLease lease) {
    const auto& limits = options.limits;
    beast::tcp_stream stream(std::move(socket));
    ConnState state{&stream, false};
    auto& list = conns[w];
    auto self_it = list.insert(list.end(), &state);
    struct Cleanup {
      Impl* impl;
      std::list<ConnState*>& list;
      std::list<ConnState*>::iterator it;
      ~Cleanup() {
        list.erase(it);
        --impl->active;
      }
    } cleanup{this, list, self_it};

    beast::flat_buffer buffer(HeadLimit(limits) + 64 * 1024);
    bool linger = false;  // an error was answered while the client may still be sending (e.g. a 413 body)
    while (!stopping) {
      state.busy = false;
      if (buffer.size() == 0) {
        stream.expires_after(limits.idle_keepalive);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(16 * 1024), kTuple);
        if (ec) break;
        buffer.commit(n);
      }
      state.busy = true;
      RequestParser parser;
      ApplyLimits(parser, limits);
      // A head announcing an upload larger than body_bytes is judged once its target is known (spool_limit).
      if (options.spool_limit) parser.body_limit(std::max<std::uint64_t>(limits.body_bytes, options.spool_max));
      stream.expires_after(limits.header_deadline);
      auto [hec, hn] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
      if (hec) {
        if (auto r = ParseErrorResponse(hec, !parser.get().target().empty(), false)) {
          Refused(r->status);
          bool ok = true;
          co_await WriteResponse(stream, *r, false, ok);
          linger = ok;
        }
        break;
      }
      auto& msg = parser.get();
      std::optional<Response> early;
      std::string target;
      if (const int status = CheckHead(msg, limits, target)) early = TransportError(status, ReasonPhrase(status));
      if (early) {
        Refused(early->status);
        bool ok = true;
        co_await WriteResponse(stream, *early, false, ok);
        linger = ok;
        break;
      }
      const bool http10 = msg.version() == 10;
      Request req = TakeHead(msg, std::move(target));
      req.remote_ip = ClientIp(ip, req);
      // Where the body goes: memory (within body_bytes) or, for an upload the handler takes from disk, a file.
      std::uint64_t spool = 0;
      if (!parser.is_done()) {
        const auto length = parser.content_length();
        if (options.spool_limit && !(length && *length <= std::min<std::uint64_t>(kSpoolAboveBytes, limits.body_bytes)))
          spool = options.spool_limit(req);
        const std::uint64_t cap = spool != 0 ? spool : limits.body_bytes;
        if (length && *length > cap) {  // admitted while reading the head under the wider spool_max only
          Refused(413);
          bool ok = true;
          co_await WriteResponse(stream, TransportError(413, ReasonPhrase(413)), false, ok);
          linger = ok;
          break;
        }
        parser.body_limit(cap);
      }
      if (!parser.is_done()) {
        if (auto expect = msg.find(bhttp::field::expect);
            expect != msg.end() && beast::iequals(expect->value(), "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          stream.expires_after(limits.write_deadline);
          auto [cec, cn] = co_await asio::async_write(stream, asio::buffer(kContinue), kTuple);
          if (cec) break;
        }
        boost::system::error_code bec;
        if (spool != 0) {
          std::shared_ptr<const FileHandle> file;
          bec = co_await SpoolBody(stream, buffer, std::move(parser), file, req.body_file_bytes);
          req.body_file = std::move(file);
        } else {
          bec = co_await ReadBody(stream, buffer, parser);
        }
        if (bec) {
          // A full disk or the bound on spooled bytes: 503, the client may try again.
          const int status = bec == boost::system::errc::no_space_on_device ? 503 : ParseErrorStatus(bec, true, true);
          if (status != 0) {
            Refused(status);
            bool ok = true;
            co_await WriteResponse(stream, TransportError(status, ReasonPhrase(status)), false, ok);
            linger = ok;
          }
          break;
        }
      }
      if (spool == 0) req.body = std::move(parser.get().body());
      req.client_fd = stream.socket().native_handle();
      req.id = next_id++;

      if (upgrade) {
        const std::string* up = req.header("upgrade");
        if (up != nullptr && up->size() == 9 && strncasecmp(up->c_str(), "websocket", 9) == 0) {
          boost::system::error_code ec;
          const bool ipv6 = stream.socket().local_endpoint(ec).address().is_v6();
          stream.expires_never();
          const int fd = stream.socket().release(ec);
          if (!ec) {
            // The connection (and its place under the caps) now belongs to the upgrade handler.
            if (upgrade(req, fd, ipv6, std::move(lease))) co_return;
            ::close(fd);
          }
          co_return;
        }
      }
      const auto t0 = Clock::now();
      Response res;
      try {
        res = co_await handler(req);
      } catch (const std::exception& e) {
        spdlog::error("request id={} handler exception error=\"{}\"", req.id, e.what());
        res = TransportError(500, "Internal error");
        res.close = false;
      }
      // Large bodies held for slow readers are bounded in all (B2): past the budget, a 503 instead of the body.
      std::size_t held = 0;
      if (res.body.size() >= limits.large_response_bytes && !res.head) {
        held = res.body.size();
        if (large_bytes.fetch_add(held) + held > limits.response_bytes_total) {
          large_bytes.fetch_sub(held);
          spdlog::warn("request id={} ip={} answered 503: {} bytes of large responses already in flight", req.id,
                       req.remote_ip, large_bytes.load());
          held = 0;
          Refused(503);
          res = TransportError(503, "");
          res.body =
              "{\"message\":\"Server busy: too many large responses in flight; try again\","
              "\"statusCode\":503,\"status\":503}";
          res.close = false;
          res.Set("Retry-After", "1");
        }
      }
      struct Unhold {
        std::atomic<std::size_t>& bytes;
        std::size_t n;
        ~Unhold() { bytes.fetch_sub(n); }
      } unhold{large_bytes, held};
      // A streamed body ends an HTTP/1.0 response by closing the connection.
      const bool keep_alive = req.keep_alive && !res.close && !stopping && !(res.source && http10);
      bool ok = true;
      std::uint64_t streamed = 0;
      co_await WriteResponse(stream, res, keep_alive, ok, http10, streamed);
      const std::uint64_t bytes = res.head ? 0 : res.source ? streamed : res.file ? res.file->length : res.body.size();
      res.source.reset();
      res.body = std::string();  // not held while the connection waits for its next request
      // The access log: never the query (its values can be credentials), a body or a header.
      const spdlog::level::level_enum level = res.status >= 500    ? spdlog::level::warn
                                              : options.access_log ? spdlog::level::info
                                                                   : spdlog::level::debug;
      if (spdlog::should_log(level)) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
        spdlog::log(level, "request id={} ip={} method={} path={} status={} bytes={} us={}{}", req.id, req.remote_ip,
                    req.method, LogQuote(req.path()), res.status, bytes, us, res.log_fields);
      }
      if (!ok || !keep_alive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (linger && !stopping) {
      // Closing with unread bytes makes the kernel send a reset, which can destroy the error response before the
      // client reads it. So read and drop what the client still sends — at most 16 body limits, for two seconds —
      // until it closes its side.
      std::size_t left = 16 * limits.body_bytes;
      std::vector<char> sink(64 * 1024);
      stream.expires_after(std::chrono::seconds(2));
      while (left > 0) {
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
        if (ec) break;
        left -= std::min(left, n);
      }
    }
    stream.socket().close(ignored);
  }
};

Server::Server(ServerOptions options, Handler handler, UpgradeHandler upgrade) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->upgrade = std::move(upgrade);
}

Server::~Server() {
  Stop();
  Wait();
}

Status Server::Start() {
  auto& im = *impl_;
  unsigned n = im.options.threads ? im.options.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) im.workers.push_back(std::make_unique<asio::io_context>(1));
  im.conns.resize(n);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(im.options.host, ec);
  if (ec) return Status::BadRequest("invalid listen address \"" + im.options.host + "\"");
  tcp::endpoint ep(address, im.options.port);
  im.acceptor = std::make_unique<tcp::acceptor>(*im.workers[0]);
  im.acceptor->open(ep.protocol(), ec);
  if (!ec) im.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor->bind(ep, ec);
  if (!ec) im.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + im.options.host + ":" + std::to_string(im.options.port) + ": " +
                               ec.message());
  }
  im.bound_port = im.acceptor->local_endpoint().port();
  asio::co_spawn(*im.workers[0], im.AcceptLoop(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("accept loop failed error=\"{}\"", ex.what());
      std::_Exit(1);  // a server that silently stopped accepting would look alive
    }
  });
  for (unsigned i = 0; i < n; ++i) {
    im.threads.emplace_back([&im, i] {
      auto guard = asio::make_work_guard(*im.workers[i]);
      im.workers[i]->run();
    });
  }
  return Status::Ok();
}

void Server::RunOnEachWorker(const std::function<void()>& fn) {
  auto& im = *impl_;
  std::mutex mu;
  std::condition_variable cv;
  std::size_t done = 0;
  for (auto& w : im.workers) {
    asio::post(*w, [&] {
      fn();
      std::lock_guard lock(mu);
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done == im.workers.size(); });
}

void Server::PostToEachWorker(std::function<void()> fn) {
  auto shared = std::make_shared<const std::function<void()>>(std::move(fn));
  for (auto& w : impl_->workers) asio::post(*w, [shared] { (*shared)(); });
}

void Server::PostToWorkers(std::function<void(unsigned)> fn) {
  auto shared = std::make_shared<const std::function<void(unsigned)>>(std::move(fn));
  for (unsigned i = 0; i < impl_->workers.size(); ++i) asio::post(*impl_->workers[i], [shared, i] { (*shared)(i); });
}

unsigned short Server::port() const { return impl_->bound_port; }
std::size_t Server::active_connections() const { return impl_->active.load(); }
std::size_t Server::admitted_connections() const { return impl_->admission->admitted.load(); }
unsigned Server::worker_count() const { return static_cast<unsigned>(impl_->workers.size()); }

void Server::Stop() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.done_mu);
    if (im.stop_called) return;
    im.stop_called = true;
  }
  im.stopping = true;
  if (im.acceptor) {
    asio::post(*im.workers[0], [&im] {
      boost::system::error_code ec;
      im.acceptor->close(ec);
    });
  }
  for (std::size_t i = 0; i < im.workers.size(); ++i) {
    asio::post(*im.workers[i], [&im, i] {
      for (ConnState* c : im.conns[i]) {
        if (!c->busy) c->stream->cancel();
      }
    });
  }
  const auto deadline = Clock::now() + im.options.limits.shutdown_grace;
  while (im.active.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& w : im.workers) w->stop();
  for (auto& t : im.threads) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(im.done_mu);
  im.done = true;
  im.done_cv.notify_all();
}

void Server::Wait() {
  std::unique_lock lock(impl_->done_mu);
  impl_->done_cv.wait(lock, [&] { return impl_->done || (!impl_->stop_called && impl_->threads.empty()); });
}

}  // namespace dpd::http
