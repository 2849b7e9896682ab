#include "realtime/hub.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <malloc.h>

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "base/log.h"
#include "base/random.h"
#include "realtime/protocol.h"
#include "realtime/rooms.h"

namespace dpd::realtime {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A polling answer: an EIO 3 client without b64=1 (XHR2, socket.io-client 1.x) reads every payload as binary
// framing in application/octet-stream — a text answer is read as "ok" and drops the client into a reconnect loop.
HttpAnswer PayloadAnswer(const std::vector<EnginePacket>& packets, int eio, bool binary_ok) {
  Payload payload = EncodePayload(packets, eio, binary_ok);
  HttpAnswer a;
  a.body = std::move(payload.body);
  if (payload.binary) a.content_type = "application/octet-stream";
  return a;
}

HttpAnswer EngineError(int code, std::string_view message) {
  HttpAnswer a;
  a.status = 400;
  a.content_type = "application/json";
  a.body = json::Write(json::object{{"code", code}, {"message", message}});
  return a;
}

// A packet queued for sending. A broadcast is one Frame shared by every socket's queue (reference-counted), never a
// copy per socket; the hub counts the bytes of live frames once (Impl::frame_bytes) against queue_bytes_total.
using Frame = std::shared_ptr<const EnginePacket>;

// The socket under a WebSocket. It differs from tcp::socket only in how Beast tears it down after a close frame:
// Beast 1.81's teardown closes the socket after its first read of what the client still sends (it never records the
// bytes read, so takes the read for an end). The client's unread bytes then make the kernel send a reset, which
// throws away the close frame the client had not read yet: a client whose message was over max_payload saw 1006
// instead of 1009. This one reads and drops what follows until the client's end — bounded in bytes and in time.
struct DrainingSocket : tcp::socket {
  DrainingSocket(tcp::socket s, const RealtimeLimits& l)
      : tcp::socket(std::move(s)), drain_bytes(l.close_drain_bytes), drain_time(l.close_drain) {}
  std::size_t drain_bytes;
  std::chrono::milliseconds drain_time;
};

// Beast's teardown for a DrainingSocket: shuts the sending side, reads and drops until the client's end, drain_bytes
// read or drain_time passed, then closes. Completes from a read's completion, never inline (as Beast's own).
template <class Handler>
class DrainTeardownOp : public beast::async_base<Handler, tcp::socket::executor_type> {
 public:
  DrainTeardownOp(Handler&& handler, DrainingSocket& s)
      : beast::async_base<Handler, tcp::socket::executor_type>(std::move(handler), s.get_executor()),
        s_(s),
        deadline_(std::make_shared<asio::steady_timer>(s.get_executor())),
        buf_(std::make_unique<std::array<char, 4096>>()) {
    boost::system::error_code ignored;
    s_.shutdown(tcp::socket::shutdown_send, ignored);
    deadline_->expires_after(s_.drain_time);
    // Cancelling the socket ends the pending read. The wait touches the socket only when it expired: a wait
    // cancelled because the teardown ended (or because its timer went away with the op) does nothing.
    deadline_->async_wait([&sock = s_](boost::system::error_code ec) {
      boost::system::error_code ignored_cancel;
      if (!ec) sock.cancel(ignored_cancel);
    });
    s_.async_read_some(asio::buffer(*buf_), std::move(*this));
  }

  void operator()(boost::system::error_code ec, std::size_t n) {
    drained_ += n;
    if (!ec && drained_ < s_.drain_bytes) {
      s_.async_read_some(asio::buffer(*buf_), std::move(*this));
      return;
    }
    deadline_->cancel();
    boost::system::error_code ignored;
    s_.close(ignored);
    // The client's end, or the byte bound: a teardown done. A timeout or a socket error: reported.
    this->complete_now(ec == asio::error::eof ? boost::system::error_code{} : ec);
  }

 private:
  DrainingSocket& s_;
  std::shared_ptr<asio::steady_timer> deadline_;
  std::unique_ptr<std::array<char, 4096>> buf_;  // on the heap: the op moves with every read
  std::size_t drained_ = 0;
};

// Found by Beast through argument-dependent lookup, in place of its teardown for TCP sockets (see DrainingSocket).
template <class Handler>
void async_teardown(beast::role_type, DrainingSocket& s, Handler&& handler) {
  DrainTeardownOp<std::decay_t<Handler>>(std::forward<Handler>(handler), s);
}

// A WebSocket connection and its bounded send queue, drained by one writer coroutine.
struct WsConn {
  WsConn(tcp::socket s, asio::io_context& io, std::shared_ptr<void> l, const RealtimeLimits& limits)
      : stream(DrainingSocket(std::move(s), limits)), signal(io), lease(std::move(l)) {}
  websocket::stream<DrainingSocket> stream;
  std::deque<Frame> queue;
  std::size_t bytes = 0;
  int eio = 4;
  bool closed = false;
  asio::steady_timer signal;    // wakes the writer
  std::shared_ptr<void> lease;  // the place under the HTTP connection caps, held while the socket is open
  // Connections with frames queued that their writer has not started writing (Hub::Fence waits for none): this one
  // counts while `waiting` is set — also while the writer is busy with an earlier frame, which is when a new frame
  // would otherwise slip past the fence (a response sent before it).
  std::shared_ptr<std::size_t> waiting_writers;
  bool waiting = false;

  void MarkWaiting() {
    if (waiting || !waiting_writers) return;
    waiting = true;
    ++*waiting_writers;
  }
  void UnmarkWaiting() {
    if (!waiting) return;
    waiting = false;
    --*waiting_writers;
  }

  // Closes the socket and wakes the writer: every way out of a session ends here (idempotent).
  void Shutdown() {
    closed = true;
    UnmarkWaiting();
    queue.clear();
    bytes = 0;
    boost::system::error_code ec;
    stream.next_layer().close(ec);
    signal.cancel();
    lease.reset();
  }
};

struct Socket {
  std::string sid;     // engine.io id
  std::string io_sid;  // socket.io id (EIO 4 connect answer)
  int eio = 4;
  bool binary_ok = false;  // EIO 3 polling without b64=1
  bool connected = false;  // socket.io connect done (events are delivered)
  bool closed = false;
  bool invalid = false;       // closed because the client sent something invalid
  std::vector<Frame> outbox;  // polling
  std::size_t outbox_bytes = 0;
  Clock::time_point poll_idle_since;     // polling: when the last GET was answered (no GET for ping_timeout: closed)
  std::function<void(HttpAnswer)> poll;  // a GET waiting for packets
  std::shared_ptr<WsConn> ws;            // the transport once upgraded (or a direct WebSocket)
  std::shared_ptr<WsConn> probe;         // a WebSocket probing for the upgrade
  // The probe was answered ("3probe"): the client is pausing its polling and sends the upgrade packet only once its
  // last GET has returned, so every GET from now on is answered at once (engine.io forces these cycles too).
  bool upgrading = false;
  Clock::time_point last_seen;
  Clock::time_point next_ping;
  Clock::time_point pong_deadline;
  bool awaiting_pong = false;
  std::size_t pending_attachments = 0;
  std::string cookie_sid;
  std::string ip;
  bool watcher = false;  // receives EmitToWatchers
};

}  // namespace

struct Hub::Impl {
  // Bytes of live frames. First member: frames still held by coroutine frames die with `io`, after it.
  std::shared_ptr<std::atomic<std::size_t>> frame_bytes = std::make_shared<std::atomic<std::size_t>>(0);
  std::size_t freed_since_trim = 0;  // bytes of queues dropped since memory was last handed back to the OS
  // WebSocket writers with frames they have not started writing (see WsConn::waiting); outlives `io` too.
  std::shared_ptr<std::size_t> waiting_writers = std::make_shared<std::size_t>(0);
  Hub* hub = nullptr;
  RealtimeLimits limits;
  JsonLimits json_limits;
  session::SessionStore* sessions = nullptr;
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  asio::steady_timer ticker{io};
  std::unordered_map<std::string, std::shared_ptr<Socket>> sockets;  // by engine.io id
  Rooms rooms{0};  // rooms and session bindings, by engine.io id (made with the limits by Hub's constructor)
  std::unordered_map<std::string, std::size_t> sessions_by_ip;  // Engine.IO sessions per address
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  std::unordered_map<std::string, Bucket> handshakes_by_ip;  // handshake rate per address (token bucket)
  bool stopped = false;
  std::atomic<bool> closing{false};  // Stop() has begun: what reaches the hub now would wait for a thread that ends
  // Figures (see Hub::Figures): written by the hub thread, read by any.
  std::atomic<std::size_t> polling[2] = {}, websocket[2] = {}, room_count{0}, watcher_count{0};
  std::atomic<std::uint64_t> deliveries{0}, dropped{0};

  Frame MakeFrame(EnginePacket p) {
    const std::size_t n = p.data.size() + 1;
    frame_bytes->fetch_add(n);
    return Frame(new EnginePacket(std::move(p)), [counter = frame_bytes, n](const EnginePacket* f) {
      counter->fetch_sub(n);
      delete f;
    });
  }

  // ---- sending ----
  void WsSend(const std::shared_ptr<WsConn>& c, Frame frame, Socket* owner) {
    if (c->closed) return;
    const std::size_t n = frame->data.size() + 1;
    if (c->bytes + n > limits.queue_bytes) {
      spdlog::warn("realtime: socket dropped, send queue over {} bytes (a client that does not read)",
                   limits.queue_bytes);
      dropped.fetch_add(1, std::memory_order_relaxed);
      if (owner)
        Close(*owner);
      else
        c->Shutdown();
      return;
    }
    c->bytes += n;
    c->queue.push_back(std::move(frame));
    c->MarkWaiting();
    c->signal.cancel();
  }

  void Send(Socket& s, EnginePacket p) {
    SendFrame(s, MakeFrame(std::move(p)));
    EnforceBudget();
  }

  // Queues one frame; the global budget is checked by the caller once the frame has reached every recipient, so
  // the queues compared are whole (checked halfway through a broadcast, a socket not yet given the new frame looks
  // shorter than it is, and two sockets can tie so that the one whose drop frees nothing goes first).

  void SendFrame(Socket& s, Frame f) {
    if (s.closed) return;
    deliveries.fetch_add(1, std::memory_order_relaxed);
    if (s.ws) {
      WsSend(s.ws, std::move(f), &s);
    } else {
      s.outbox_bytes += f->data.size() + 1;
      if (s.outbox_bytes > limits.queue_bytes) {
        spdlog::warn("realtime: socket dropped, poll queue over {} bytes", limits.queue_bytes);
        dropped.fetch_add(1, std::memory_order_relaxed);
        Close(s);
        return;
      }
      s.outbox.push_back(std::move(f));
      FlushPoll(s);
    }
  }

  void EnforceBudget() {
    if (frame_bytes->load() > limits.queue_bytes_total) DropSlowest();
  }

  // Over the global budget: the sockets with the longest queues go first, until the live frames fit again.
  void DropSlowest() {
    std::vector<std::pair<std::size_t, std::shared_ptr<Socket>>> backlog;
    for (auto& [sid, s] : sockets) {
      std::size_t n = s->outbox_bytes + (s->ws ? s->ws->bytes : 0);
      if (n > 0) backlog.emplace_back(n, s);
    }
    std::sort(backlog.begin(), backlog.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::size_t dropped = 0;
    for (auto& [n, s] : backlog) {
      if (frame_bytes->load() <= limits.queue_bytes_total) break;
      Close(*s);
      ++dropped;
      this->dropped.fetch_add(1, std::memory_order_relaxed);
    }
    spdlog::warn("realtime: {} slow sockets dropped, send queues over {} bytes in all", dropped,
                 limits.queue_bytes_total);
  }

  void AnswerPoll(Socket& s, HttpAnswer a) {
    auto reply = std::move(s.poll);
    s.poll = nullptr;
    s.poll_idle_since = Clock::now();
    reply(std::move(a));
  }

  void FlushPoll(Socket& s) {
    if (!s.poll || s.outbox.empty()) return;
    Payload payload = EncodePayload(s.outbox, s.eio, s.binary_ok);
    s.outbox.clear();
    s.outbox_bytes = 0;
    HttpAnswer a;
    a.body = std::move(payload.body);
    if (payload.binary) a.content_type = "application/octet-stream";
    AnswerPoll(s, std::move(a));
  }

  void SendIo(Socket& s, const IoPacket& p) { Send(s, EnginePacket{EngineType::kMessage, EncodeIo(p), false}); }

  void SendEvent(Socket& s, std::string_view event, const json::value& data) {
    IoPacket p;
    p.data = json::array{json::string(event), data};
    SendIo(s, p);
  }

  std::string OpenPacket(const Socket& s, bool upgrades) {
    json::object o{{"sid", s.sid},
                   {"upgrades", upgrades ? json::array{"websocket"} : json::array{}},
                   {"pingInterval", limits.ping_interval.count()},
                   {"pingTimeout", limits.ping_timeout.count()}};
    if (s.eio == 4) o["maxPayload"] = limits.max_payload;
    return json::Write(o);
  }

  // ---- lifecycle ----
  // A new Engine.IO session from `ip` is allowed: under the total, per-address and handshake-rate caps. Otherwise
  // the engine's error (503 at the total, 429 at an address's caps).
  std::optional<HttpAnswer> RefuseSession(const std::string& ip) {
    if (sockets.size() >= limits.connections) {
      HttpAnswer a = EngineError(4, "Forbidden: too many connections");
      a.status = 503;
      return a;
    }
    auto it = sessions_by_ip.find(ip);
    if (it != sessions_by_ip.end() && it->second >= limits.sessions_per_ip) {
      spdlog::warn("realtime: handshake refused ip={} reason=sessions_per_ip limit={}", ip, limits.sessions_per_ip);
      HttpAnswer a = EngineError(4, "Forbidden: too many connections from this address");
      a.status = 429;
      return a;
    }
    const auto now = Clock::now();
    const double rate = static_cast<double>(limits.handshakes_per_ip);
    auto [bit, fresh] = handshakes_by_ip.try_emplace(ip, Bucket{rate, now});
    Bucket& b = bit->second;
    b.tokens = std::min(rate, b.tokens + rate * std::chrono::duration<double>(now - b.at).count());
    b.at = now;
    if (b.tokens < 1.0) {
      spdlog::debug("realtime: handshake refused ip={} reason=handshakes_per_ip", ip);
      HttpAnswer a = EngineError(4, "Forbidden: too many handshakes from this address");
      a.status = 429;
      return a;
    }
    b.tokens -= 1.0;
    return std::nullopt;
  }

  std::shared_ptr<Socket> NewSocket(int eio, const std::string& ip) {
    auto s = std::make_shared<Socket>();
    s->sid = RandomHex(10);
    s->io_sid = RandomHex(10);
    s->eio = eio;
    s->ip = ip;
    s->last_seen = Clock::now();
    s->poll_idle_since = s->last_seen;
    s->next_ping = s->last_seen + limits.ping_interval;
    sockets.emplace(s->sid, s);
    ++sessions_by_ip[ip];
    hub->count_.fetch_add(1);
    return s;
  }

  void Close(Socket& s) {
    if (s.closed) return;
    s.closed = true;
    rooms.Remove(s.sid);
    if (s.poll) {
      AnswerPoll(s, PayloadAnswer({EnginePacket{EngineType::kClose, "", false}}, s.eio, s.binary_ok));
    }
    freed_since_trim += s.outbox_bytes;
    s.outbox.clear();
    s.outbox_bytes = 0;
    for (auto* c : {&s.ws, &s.probe}) {
      if (*c) {
        freed_since_trim += (*c)->bytes;
        (*c)->Shutdown();
      }
    }
    if (auto it = sessions_by_ip.find(s.ip); it != sessions_by_ip.end() && --it->second == 0) {
      sessions_by_ip.erase(it);
    }
    const std::string sid = s.sid;  // `s` may be destroyed by the erase
    if (sockets.erase(sid) > 0) hub->count_.fetch_sub(1);
  }

  // ---- sessions (spec §8.4) ----
  void Bind(Socket& s, const session::Session& session) {
    rooms.Bind(s.sid, session);
    SendEvent(s, "server:acksession", nullptr);
  }

  static asio::awaitable<void> BindLater(Impl* self, std::string engine_sid, std::string session_id) {
    if (self->sessions == nullptr) co_return;
    session::SessionPtr found = co_await self->sessions->Find(session_id);
    auto it = self->sockets.find(engine_sid);
    if (!found || it == self->sockets.end() || it->second->closed) co_return;  // unknown ids are ignored
    self->Bind(*it->second, *found);
  }

  void OnConnected(Socket& s) {
    s.connected = true;
    if (!s.cookie_sid.empty()) {
      asio::co_spawn(io, BindLater(this, s.sid, s.cookie_sid), LogOnFailure{"realtime bind"});
    }
  }

  // ---- packets ----
  void OnIo(Socket& s, std::string_view text) {
    auto p = DecodeIo(text, limits.attachments, json_limits);
    if (!p.ok()) {
      spdlog::debug("realtime: invalid socket.io packet ({}); socket closed", p.status().message());
      s.invalid = true;
      Close(s);
      return;
    }
    switch (p->type) {
      case IoType::kConnect: {
        IoPacket answer;
        answer.nsp = p->nsp;
        if (p->nsp != "/") {  // dpd has the default namespace only
          answer.type = IoType::kConnectError;
          answer.data = s.eio == 4 ? json::value(json::object{{"message", "Invalid namespace"}})
                                   : json::value("Invalid namespace");
          SendIo(s, answer);
          return;
        }
        if (s.eio == 4) {
          answer.type = IoType::kConnect;
          answer.data = json::object{{"sid", s.io_sid}};
          SendIo(s, answer);
          if (!s.connected) OnConnected(s);
        }
        return;
      }
      case IoType::kDisconnect:
        if (p->nsp == "/") Close(s);
        return;
      case IoType::kBinaryEvent:
      case IoType::kBinaryAck:
        s.pending_attachments = p->attachments;  // the binary packets that follow are read and dropped
        return;
      case IoType::kEvent: {
        const auto& args = p->data->as_array();
        const std::string_view name = args[0].as_string();
        if ((name == "server:setSession" || name == "server:setsession") && args.size() > 1 && args[1].is_object()) {
          const json::value* sid = args[1].as_object().if_contains("sid");
          if (sid && sid->is_string() && !sid->as_string().empty()) {
            asio::co_spawn(io, BindLater(this, s.sid, std::string(sid->as_string())), LogOnFailure{"realtime bind"});
          }
        }
        if (p->id) {  // an ack was asked for: answer it (empty)
          IoPacket ack;
          ack.type = IoType::kAck;
          ack.nsp = p->nsp;
          ack.id = p->id;
          ack.data = json::array{};
          SendIo(s, ack);
        }
        return;
      }
      default: return;
    }
  }

  void OnPacket(Socket& s, EnginePacket p) {
    s.last_seen = Clock::now();
    if (p.binary) {
      if (s.pending_attachments == 0) {
        s.invalid = true;
        Close(s);  // a binary packet nobody announced
        return;
      }
      --s.pending_attachments;
      return;
    }
    switch (p.type) {
      case EngineType::kPing:  // EIO 3 heartbeat (and probes): answer with a pong
        Send(s, EnginePacket{EngineType::kPong, p.data, false});
        return;
      case EngineType::kPong:  // EIO 4 heartbeat answer
        s.awaiting_pong = false;
        s.next_ping = Clock::now() + limits.ping_interval;
        return;
      case EngineType::kMessage: OnIo(s, p.data); return;
      case EngineType::kClose: Close(s); return;
      case EngineType::kNoop:
      case EngineType::kUpgrade: return;
      default:
        s.invalid = true;
        Close(s);  // an open packet from a client: invalid
        return;
    }
  }

  // ---- polling (runs on the hub thread) ----
  void HandlePoll(HttpExchange ex, std::function<void(HttpAnswer)> reply) {
    if (stopped) return reply(EngineError(3, "Bad request"));
    const std::string eio_text = ex.query.count("EIO") ? ex.query["EIO"] : "";
    if (eio_text != "3" && eio_text != "4") return reply(EngineError(5, "Unsupported protocol version"));
    const int eio = eio_text == "3" ? 3 : 4;
    if (!ex.query.count("transport") || ex.query["transport"] != "polling") {
      return reply(EngineError(0, "Transport unknown"));
    }
    auto sid_it = ex.query.find("sid");
    if (sid_it == ex.query.end()) {
      if (ex.method != "GET") return reply(EngineError(2, "Bad handshake method"));
      if (auto refused = RefuseSession(ex.remote_ip)) return reply(std::move(*refused));
      auto s = NewSocket(eio, ex.remote_ip);
      s->binary_ok = eio == 3 && !ex.query.count("b64");
      s->cookie_sid = ex.cookie_sid;
      MarkWatcher(*s, ex);
      std::vector<EnginePacket> first{EnginePacket{EngineType::kOpen, OpenPacket(*s, true), false}};
      if (eio == 3) {  // socket.io 1.x/2.x: the server connects the default namespace by itself
        first.push_back(EnginePacket{EngineType::kMessage, "0", false});
        OnConnected(*s);
      }
      return reply(PayloadAnswer(first, eio, s->binary_ok));
    }
    auto it = sockets.find(sid_it->second);
    if (it == sockets.end()) return reply(EngineError(1, "Session ID unknown"));
    std::shared_ptr<Socket> s = it->second;
    if (s->ws || s->eio != eio) return reply(EngineError(3, "Bad request"));
    if (ex.method == "GET") {
      if (s->poll) {  // two polls at once: the client is broken
        Close(*s);
        return reply(EngineError(3, "Bad request"));
      }
      s->poll = std::move(reply);
      FlushPoll(*s);
      // Held during an upgrade, this GET would stall it: the client sends the upgrade packet, and everything it
      // emits meanwhile, only after the GET has returned.
      if (s->poll && s->upgrading) Send(*s, EnginePacket{EngineType::kNoop, "", false});
      return;
    }
    if (ex.method != "POST") return reply(EngineError(3, "Bad request"));
    if (ex.body.size() > limits.max_payload) {
      Close(*s);
      HttpAnswer a = EngineError(3, "Bad request: payload over maxPayload");
      a.status = 413;
      return reply(std::move(a));
    }
    auto packets = DecodePayload(ex.body, ex.content_type.rfind("application/octet-stream", 0) == 0, eio);
    if (!packets.ok()) {
      Close(*s);
      return reply(EngineError(3, "Bad request: " + packets.status().message()));
    }
    for (auto& p : *packets) {
      if (s->closed) break;
      OnPacket(*s, std::move(p));
    }
    if (s->invalid) return reply(EngineError(3, "Bad request: invalid packet"));
    HttpAnswer ok;
    ok.content_type = "text/html";
    ok.body = "ok";
    reply(std::move(ok));
  }

  // ---- WebSocket (runs on the hub thread) ----
  static asio::awaitable<void> Writer(std::shared_ptr<WsConn> c) {
    while (!c->closed) {
      if (c->queue.empty()) {
        c->signal.expires_at(asio::steady_timer::time_point::max());
        co_await c->signal.async_wait(kTuple);
        continue;
      }
      Frame f = std::move(c->queue.front());
      c->queue.pop_front();
      c->bytes -= f->data.size() + 1;
      // The frame is written from the shared packet: a type byte (none for an EIO 4 binary frame), then its data.
      const char type = f->binary ? static_cast<char>(static_cast<char>(f->type) - '0') : static_cast<char>(f->type);
      const bool with_type = !f->binary || c->eio == 3;
      std::array<asio::const_buffer, 2> buffers{asio::buffer(&type, with_type ? 1 : 0), asio::buffer(f->data)};
      c->stream.binary(f->binary);
      if (c->queue.empty()) c->UnmarkWaiting();
      auto [ec, n] = co_await c->stream.async_write(buffers, kTuple);
      if (!c->queue.empty() && !c->closed) c->MarkWaiting();
      if (ec) c->Shutdown();
    }
  }

  // Why a WebSocket upgrade cannot be accepted, as the engine answers it (before the 101), or nullopt.
  std::optional<HttpAnswer> RefuseUpgrade(HttpExchange& ex) {
    if (stopped) return EngineError(3, "Bad request");
    const std::string eio_text = ex.query.count("EIO") ? ex.query["EIO"] : "";
    if (eio_text != "3" && eio_text != "4") return EngineError(5, "Unsupported protocol version");
    if (!ex.query.count("transport") || ex.query["transport"] != "websocket") {
      return EngineError(0, "Transport unknown");
    }
    const int eio = eio_text == "3" ? 3 : 4;
    auto sid_it = ex.query.find("sid");
    if (sid_it == ex.query.end()) return RefuseSession(ex.remote_ip);
    auto it = sockets.find(sid_it->second);
    if (it == sockets.end()) return EngineError(1, "Session ID unknown");
    if (it->second->ws || it->second->probe || it->second->eio != eio) return EngineError(3, "Bad request");
    return std::nullopt;
  }

  // Answers a refused upgrade on the raw socket and closes it (bounded by the write deadline of a ping timeout).
  static asio::awaitable<void> Refuse(std::shared_ptr<WsConn> conn, HttpAnswer answer) {
    std::string text = "HTTP/1.1 " + std::to_string(answer.status) +
                       (answer.status == 400   ? " Bad Request"
                        : answer.status == 429 ? " Too Many Requests"
                                               : " Service Unavailable") +
                       "\r\nConnection: close\r\nContent-Type: " + answer.content_type +
                       "\r\nContent-Length: " + std::to_string(answer.body.size()) + "\r\n\r\n" + answer.body;
    asio::steady_timer deadline(conn->signal.get_executor());
    deadline.expires_after(std::chrono::seconds(5));
    deadline.async_wait([conn](boost::system::error_code ec) {
      if (!ec) conn->Shutdown();
    });
    (void)co_await asio::async_write(conn->stream.next_layer(), asio::buffer(text), kTuple);
    boost::system::error_code ignored;
    conn->stream.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
    deadline.cancel();
    conn->Shutdown();
  }

  static asio::awaitable<void> WsSession(Impl* self, HttpExchange ex, std::shared_ptr<WsConn> conn) {
    // Every way out of this coroutine closes the socket, wakes the writer and drops the connection's lease.
    struct Closer {
      std::shared_ptr<WsConn> c;
      ~Closer() { c->Shutdown(); }
    } closer{conn};
    beast::http::request<beast::http::empty_body> req;
    req.method(beast::http::verb::get);
    req.target(ex.target);
    req.version(11);
    for (const auto& [n, v] : ex.headers) req.set(n, v);
    conn->stream.read_message_max(self->limits.max_payload);
    // The 101 must be written within a ping timeout; idle sockets are the heartbeat's business (Tick).
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = self->limits.ping_timeout;
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    conn->stream.set_option(timeouts);
    conn->stream.set_option(websocket::stream_base::decorator([](websocket::response_type&) {}));
    auto [aec] = co_await conn->stream.async_accept(req, kTuple);
    if (aec || self->stopped) co_return;
    const int eio = ex.query["EIO"] == "3" ? 3 : 4;
    auto sid_it = ex.query.find("sid");
    // The state may have changed while the 101 was written (the caps were checked before it).
    if (sid_it == ex.query.end() ? self->sockets.size() >= self->limits.connections
                                 : (!self->sockets.count(sid_it->second) || self->sockets[sid_it->second]->ws ||
                                    self->sockets[sid_it->second]->probe)) {
      co_return;
    }
    conn->eio = eio;
    asio::co_spawn(self->io, Writer(conn), LogOnFailure{"websocket writer"});
    std::shared_ptr<Socket> s;
    if (sid_it == ex.query.end()) {
      s = self->NewSocket(eio, ex.remote_ip);
      s->ws = conn;
      s->cookie_sid = ex.cookie_sid;
      self->MarkWatcher(*s, ex);
      self->Send(*s, EnginePacket{EngineType::kOpen, self->OpenPacket(*s, false), false});
      if (eio == 3) {
        self->Send(*s, EnginePacket{EngineType::kMessage, "0", false});
        self->OnConnected(*s);
      }
    } else {
      s = self->sockets.at(sid_it->second);
      s->probe = conn;
    }
    std::weak_ptr<Socket> weak = s;
    s.reset();
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await conn->stream.async_read(buffer, kTuple);
      auto sock = weak.lock();
      if (ec || !sock || sock->closed) break;
      const bool binary = !conn->stream.got_text();
      std::string frame = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      auto p = DecodeWebSocket(frame, binary, sock->eio);
      if (!p.ok()) {
        self->Close(*sock);
        break;
      }
      if (sock->probe == conn) {
        // Upgrading from polling: "2probe" → "3probe", a noop ends the pending poll, then "5" switches.
        if (p->type == EngineType::kPing && p->data == "probe") {
          self->WsSend(conn, self->MakeFrame(EnginePacket{EngineType::kPong, "probe", false}), nullptr);
          sock->upgrading = true;
          self->Send(*sock, EnginePacket{EngineType::kNoop, "", false});
        } else if (p->type == EngineType::kUpgrade) {
          sock->probe = nullptr;
          sock->upgrading = false;
          sock->ws = conn;
          if (sock->poll) {
            self->AnswerPoll(*sock,
                             PayloadAnswer({EnginePacket{EngineType::kNoop, "", false}}, sock->eio, sock->binary_ok));
          }
          for (auto& q : sock->outbox) self->WsSend(conn, std::move(q), sock.get());
          sock->outbox.clear();
          sock->outbox_bytes = 0;
        } else {
          self->Close(*sock);
          break;
        }
        continue;
      }
      self->OnPacket(*sock, std::move(*p));
    }
    if (auto sock = weak.lock()) {
      if (sock->ws == conn)
        self->Close(*sock);
      else if (sock->probe == conn) {
        sock->probe = nullptr;
        sock->upgrading = false;
      }
    }
  }

  // ---- Fence: done once no WebSocket writer with waiting frames is still to start (at most 8 turns) ----
  static void FenceTurn(Impl* im, std::function<void()> done, int turn) {
    if (*im->waiting_writers == 0 || turn >= 8) {
      done();
      return;
    }
    asio::post(im->io, [im, done = std::move(done), turn]() mutable { FenceTurn(im, std::move(done), turn + 1); });
  }

  // ---- heartbeats: one pass a second over the sockets ----
  // A throw inside a pass is logged and the loop starts again: heartbeats must never stop for good.
  void StartTick() {
    asio::co_spawn(io, Tick(this), [this](const std::exception_ptr& e) {
      if (LogFailure("realtime tick", e) && !stopped) StartTick();
    });
  }
  static asio::awaitable<void> Tick(Impl* self) {
    for (;;) {
      self->ticker.expires_after(std::chrono::seconds(1));
      auto [ec] = co_await self->ticker.async_wait(kTuple);
      if (ec || self->stopped) co_return;
      const auto now = Clock::now();
      std::vector<std::shared_ptr<Socket>> expired, ping;
      for (auto& [sid, s] : self->sockets) {
        if (s->eio == 4) {
          if (s->awaiting_pong && now > s->pong_deadline) {
            expired.push_back(s);
          } else if (!s->awaiting_pong && now >= s->next_ping) {
            ping.push_back(s);
          }
        } else if (now - s->last_seen > self->limits.ping_interval + self->limits.ping_timeout) {
          expired.push_back(s);
        }
      }
      // Sending may close sockets (queue limits): not while iterating the map.
      for (auto& s : ping) {
        s->awaiting_pong = true;
        s->pong_deadline = now + self->limits.ping_timeout;
        self->Send(*s, EnginePacket{EngineType::kPing, "", false});
      }
      for (auto& s : expired) self->Close(*s);
      self->Sweep(now);
      self->CountSockets();
    }
  }

  void MarkWatcher(Socket& s, const HttpExchange& ex) {
    if (!ex.watcher) return;
    s.watcher = true;
    watcher_count.fetch_add(1, std::memory_order_relaxed);  // at once; the tick recounts
  }

  void CountSockets() {
    std::size_t p[2] = {}, w[2] = {}, watching = 0;
    for (auto& [sid, s] : sockets) {
      (s->ws ? w : p)[s->eio == 3 ? 0 : 1]++;
      if (s->watcher) ++watching;
    }
    for (int g = 0; g < 2; ++g) {
      polling[g].store(p[g], std::memory_order_relaxed);
      websocket[g].store(w[g], std::memory_order_relaxed);
    }
    watcher_count.store(watching, std::memory_order_relaxed);
    room_count.store(rooms.room_count(), std::memory_order_relaxed);
  }

  // Once a second: polling sessions nobody polls lose their queues at the ping timeout (a client that polls waits
  // with a GET pending nearly all the time); idle rate buckets are forgotten; memory of dropped queues goes back
  // to the OS.
  void Sweep(Clock::time_point now) {
    std::vector<std::shared_ptr<Socket>> unpolled;
    for (auto& [sid, s] : sockets) {
      if (!s->ws && !s->probe && !s->poll && now - s->poll_idle_since > limits.ping_timeout) unpolled.push_back(s);
    }
    for (auto& s : unpolled) Close(*s);
    for (auto it = handshakes_by_ip.begin(); it != handshakes_by_ip.end();) {
      if (now - it->second.at > std::chrono::seconds(2))
        it = handshakes_by_ip.erase(it);  // full again by now
      else
        ++it;
    }
    if (freed_since_trim > 16 * 1024 * 1024) {
      freed_since_trim = 0;
      malloc_trim(0);
    }
  }
};

Hub::Hub(const RealtimeLimits& limits, const JsonLimits& json_limits, session::SessionStore* sessions)
    : impl_(std::make_unique<Impl>()) {
  impl_->hub = this;
  impl_->limits = limits;
  impl_->rooms = Rooms(limits.rooms_per_socket);
  impl_->json_limits = json_limits;
  impl_->sessions = sessions;
}

Hub::~Hub() { Stop(); }

void Hub::Start() {
  Impl& im = *impl_;
  im.work.emplace(im.io.get_executor());
  im.StartTick();
  im.thread = std::thread([&im] { im.io.run(); });
}

void Hub::Stop() {
  Impl& im = *impl_;
  if (!im.thread.joinable()) return;
  im.closing.store(true);
  std::promise<void> closed;
  asio::post(im.io, [&im, &closed] {
    im.stopped = true;
    im.ticker.cancel();
    std::vector<std::shared_ptr<Socket>> all;
    for (auto& [sid, s] : im.sockets) all.push_back(s);
    for (auto& s : all) im.Close(*s);
    closed.set_value();
  });
  closed.get_future().wait_for(std::chrono::seconds(2));
  im.work.reset();
  im.io.stop();
  im.thread.join();
}

asio::awaitable<HttpAnswer> Hub::Poll(HttpExchange exchange) {
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;
    std::optional<HttpAnswer> answer;
  };
  auto executor = co_await asio::this_coro::executor;
  auto waiter = std::make_shared<Waiter>(executor);
  // The hub holds `reply` only weakly to the waiter: the timer belongs to this worker's io_context, and a reply still
  // queued on the hub when both shut down must not destroy it after that io_context is gone.
  auto reply = [weak = std::weak_ptr<Waiter>(waiter)](HttpAnswer a) {
    auto waiter = weak.lock();
    if (!waiter) return;  // the request is over (timed out, or the worker stopped)
    asio::post(waiter->timer.get_executor(), [waiter, a = std::move(a)]() mutable {
      waiter->answer = std::move(a);
      waiter->timer.cancel();
    });
  };
  Impl* im = impl_.get();
  // A poll that arrives while the server stops (its request was already being read) is answered at once.
  if (im->closing.load()) co_return EngineError(3, "Bad request");
  asio::post(im->io, [im, ex = std::move(exchange), reply]() mutable { im->HandlePoll(std::move(ex), reply); });
  waiter->timer.expires_after(im->limits.ping_interval + im->limits.ping_timeout + std::chrono::seconds(5));
  boost::system::error_code ec;
  co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (waiter->answer) co_return std::move(*waiter->answer);
  co_return EngineError(3, "Bad request");  // the hub is gone (shutting down)
}

void Hub::Upgrade(HttpExchange exchange, int fd, bool ipv6, std::shared_ptr<void> lease) {
  Impl* im = impl_.get();
  asio::post(im->io, [im, ex = std::move(exchange), fd, ipv6, lease = std::move(lease)]() mutable {
    tcp::socket socket(im->io);
    boost::system::error_code ec;
    socket.assign(ipv6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    auto conn = std::make_shared<WsConn>(std::move(socket), im->io, std::move(lease), im->limits);
    conn->waiting_writers = im->waiting_writers;
    if (auto refused = im->RefuseUpgrade(ex)) {
      asio::co_spawn(im->io, Impl::Refuse(conn, std::move(*refused)), LogOnFailure{"websocket refusal"});
      return;
    }
    asio::co_spawn(im->io, Impl::WsSession(im, std::move(ex), conn), LogOnFailure{"websocket session"});
  });
}

std::size_t Hub::queued_bytes() const { return impl_->frame_bytes->load(); }

Hub::Figures Hub::figures() const {
  Figures f;
  for (int g = 0; g < 2; ++g) {
    f.polling[g] = impl_->polling[g].load(std::memory_order_relaxed);
    f.websocket[g] = impl_->websocket[g].load(std::memory_order_relaxed);
  }
  f.rooms = impl_->room_count.load(std::memory_order_relaxed);
  f.watchers = impl_->watcher_count.load(std::memory_order_relaxed);
  f.deliveries = impl_->deliveries.load(std::memory_order_relaxed);
  f.dropped = impl_->dropped.load(std::memory_order_relaxed);
  return f;
}

void Hub::EmitToWatchers(const std::string& event, const json::value& data) {
  Impl* im = impl_.get();
  if (im->watcher_count.load(std::memory_order_relaxed) == 0) return;
  IoPacket p;
  p.data = json::array{json::string(event), data};
  EnginePacket packet{EngineType::kMessage, EncodeIo(p), false};
  asio::post(im->io, [im, packet = std::move(packet)]() mutable {
    Frame frame = im->MakeFrame(std::move(packet));
    std::vector<std::shared_ptr<Socket>> watching;
    for (auto& [sid, s] : im->sockets) {
      if (s->watcher && s->connected && !s->closed) watching.push_back(s);
    }
    for (auto& s : watching) im->SendFrame(*s, frame);
    im->EnforceBudget();
  });
}

void Hub::Emit(std::vector<std::string> rooms, const std::string& event, const json::value& data) {
  IoPacket p;
  p.data = json::array{json::string(event), data};
  EnginePacket packet{EngineType::kMessage, EncodeIo(p), false};
  Impl* im = impl_.get();
  asio::post(im->io, [im, rooms = std::move(rooms), packet = std::move(packet)]() mutable {
    // One frame for every recipient (RELIABILITY B2: encoded once, shared), counted once against the budget.
    Frame frame = im->MakeFrame(std::move(packet));
    auto deliver = [&](Socket& s) {
      if (s.connected && !s.closed) im->SendFrame(s, frame);
    };
    if (rooms.empty()) {
      std::vector<std::shared_ptr<Socket>> all;
      for (auto& [sid, s] : im->sockets) all.push_back(s);
      for (auto& s : all) deliver(*s);
      im->EnforceBudget();
      return;
    }
    std::vector<std::shared_ptr<Socket>> keep;
    for (const auto& sid : im->rooms.MembersOf(rooms)) {
      auto it = im->sockets.find(sid);
      if (it != im->sockets.end()) keep.push_back(it->second);
    }
    for (auto& s : keep) deliver(*s);
    im->EnforceBudget();
  });
}

asio::awaitable<void> Hub::Fence() {
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
  Impl* im = impl_.get();
  auto done = [timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); };
  // First turn: the emits posted before us run. Then, turn after turn (at most 8), until no WebSocket writer that
  // has frames waiting is still to start writing them.
  asio::post(im->io, [im, done] { asio::post(im->io, [im, done] { Impl::FenceTurn(im, done, 1); }); });
  boost::system::error_code ec;
  timer->expires_after(std::chrono::seconds(1));  // never longer than this (a stopped hub answers nothing)
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void Hub::SessionChanged(const std::string& sid, session::SessionPtr session) {
  Impl* im = impl_.get();
  asio::post(im->io, [im, sid, session] { im->rooms.SessionChanged(sid, session); });
}

}  // namespace dpd::realtime
