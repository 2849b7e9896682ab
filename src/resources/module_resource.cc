#include "resources/module_resource.h"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>
#include <optional>

#include "base/log.h"
#include "resources/internal_client.h"
#include "resources/router.h"

namespace dpd::resources {
namespace {

// A module's streamed response (res.write past 64 KiB): the host's parts, posted to the request's executor, wait
// here until the transport takes them; each piece taken is reported back (NodeHost::Drained) so the module may
// write more. Dropped before its end (the client left): the module's request is abandoned.
class ModuleStream final : public ReplyStream {
 public:
  ModuleStream(const boost::asio::any_io_executor& executor, std::shared_ptr<script::NodeHost> host,
               std::uint64_t token, std::chrono::milliseconds quiet)
      : timer_(executor), host_(std::move(host)), token_(token), quiet_(quiet) {}
  ~ModuleStream() override {
    if (!ended_ && !failed_) host_->Abandon(token_);
  }
  void Push(std::string bytes, bool end) {
    if (!bytes.empty()) pieces_.push_back(std::move(bytes));
    if (end) ended_ = true;
    timer_.cancel();
  }
  void Fail() {
    failed_ = true;
    timer_.cancel();
  }
  boost::asio::awaitable<std::optional<std::string>> Next() override {
    for (;;) {
      if (!pieces_.empty()) {
        std::string piece = std::move(pieces_.front());
        pieces_.pop_front();
        host_->Drained(token_, piece.size());
        co_return piece;
      }
      if (failed_) co_return std::nullopt;
      if (ended_) co_return std::string();
      timer_.expires_after(quiet_);
      boost::system::error_code ec;
      co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      if (!ec && pieces_.empty() && !ended_ && !failed_) {  // nothing for modules.request_time_ms: cut it short
        spdlog::warn("a module's streamed response wrote nothing for {} ms: closed", quiet_.count());
        failed_ = true;
        host_->Abandon(token_);
        co_return std::nullopt;
      }
    }
  }

 private:
  boost::asio::steady_timer timer_;
  std::shared_ptr<script::NodeHost> host_;
  std::uint64_t token_;
  std::chrono::milliseconds quiet_;
  std::deque<std::string> pieces_;
  bool ended_ = false, failed_ = false;
};

struct Waiter {
  explicit Waiter(const boost::asio::any_io_executor& executor) : timer(executor) {}
  boost::asio::steady_timer timer;
  std::optional<script::ModuleAnswer> answer;
  std::shared_ptr<ModuleStream> stream;  // the first part came: Handle hands it to the transport
  std::weak_ptr<ModuleStream> parts;     // where later parts go while someone holds it
  int status = 200;
  HeaderList headers;
};

Reply ToReply(script::ModuleAnswer a) {
  using Kind = script::ModuleAnswer::Kind;
  if (a.status < 100 || a.status > 599) {  // not an HTTP status: the module's bug, not the client's
    a = script::ModuleAnswer{};
    a.message = "Module answered with an invalid status code";
  }
  Reply r;
  switch (a.kind) {
    case Kind::kNext: return Reply::Next();
    case Kind::kPart: break;  // parts make a stream in Handle, never a reply of their own
    case Kind::kFailed: {
      Reply e = Reply::Error(a.status >= 400 ? a.status : 500, a.message);
      e.error_kind = "module";
      return e;
    }
    case Kind::kWritten:
      r.kind = Reply::Kind::kBody;
      r.status = a.status;
      r.text = std::move(a.body);
      r.headers = std::move(a.headers);
      return r;
    case Kind::kDone:
      if (a.is_error) {
        r.kind = Reply::Kind::kError;
        r.status = a.status;
        r.json = a.error.is_object() ? std::move(a.error) : json::value(json::object{});
        r.headers = std::move(a.headers);
        return r;
      }
      if (a.status == 204 || a.status == 304) {
        r = Reply::Empty(a.status);
      } else if (a.result_is_text) {
        r.kind = Reply::Kind::kText;
        r.status = a.status;
        r.text = a.result.is_string() ? std::string(a.result.as_string()) : std::string();
      } else {
        r = Reply::Json(std::move(a.result), a.status);
      }
      r.headers = std::move(a.headers);
      return r;
  }
  return Reply::Error(500, "module failed");
}

}  // namespace

ModuleResource::ModuleResource(std::string name, std::string type, std::shared_ptr<script::NodeHost> host,
                               std::uint64_t instance, const Limits& limits, Emitter* emitter)
    : Resource(std::move(name), std::move(type)),
      host_(std::move(host)),
      instance_(instance),
      limits_(limits),
      emitter_(emitter) {}

ModuleResource::~ModuleResource() { host_->Destroy(instance_); }

boost::asio::awaitable<Reply> ModuleResource::Handle(Context& ctx) {
  auto executor = co_await boost::asio::this_coro::executor;
  if (ctx.raw_body && ctx.raw_body->size() > limits_.modules.body_bytes) {
    co_return Reply::Error(413, "Request body larger than modules.body_bytes");
  }
  script::ModuleRequest req;
  req.instance = instance_;
  req.method = ctx.method;
  req.url = ctx.url;
  req.target = ctx.target ? *ctx.target : path() + ctx.url;
  req.query = ctx.query;
  if (ctx.body) {
    req.body = *ctx.body;
    req.has_body = true;
  }
  if (ctx.raw_body) req.raw_body = *ctx.raw_body;
  if (ctx.body_file) {
    req.body_fd = ctx.body_fd;
    req.body_file = ctx.body_file;
    req.body_file_bytes = ctx.body_file_bytes;
  }
  if (ctx.headers) req.headers = *ctx.headers;
  if (ctx.me) req.me = *ctx.me;
  if (ctx.session) req.session_id = ctx.session->id;
  req.is_root = ctx.is_root;
  req.internal = ctx.internal;
  req.remote_ip = ctx.remote_ip;
  if (ctx.router) {
    BeginCallTree(ctx, limits_.script);
    req.clients_json = ctx.router->clients_json();
    // The host thread asks; the call runs on this request's executor, as scripts' calls do.
    auto requester = std::make_shared<Requester>(MakeInternalClient(ctx, limits_.script, executor));
    req.request = [requester, executor](script::HostRequest r, std::function<void(script::HostResponse)> done) {
      boost::asio::post(executor, [requester, r = std::move(r), done = std::move(done)]() mutable {
        (*requester)(std::move(r), std::move(done));
      });
    };
  }
  Emitter* emitter = emitter_;
  std::shared_ptr<CallTree> tree = ctx.calls;
  std::shared_ptr<const Router> router = ctx.router;
  std::string name = this->name();
  req.emit = [emitter, executor, tree, router, name](const json::array& args) {
    EmitMessage message;
    if (emitter == nullptr) return;
    if (!ReadEmit(args, message)) {
      spdlog::warn("resource {} emit() with {} arguments ignored (spec §6.7 forms only)", name, args.size());
      return;
    }
    message.router = router;
    boost::asio::post(executor, [emitter, executor, tree, message = std::move(message)] {
      if (tree) tree->emitted = true;
      emitter->Emit(message, executor);
    });
  };
  auto waiter = std::make_shared<Waiter>(executor);
  auto token_box = std::make_shared<std::uint64_t>(0);
  std::shared_ptr<script::NodeHost> host = host_;
  const std::chrono::milliseconds quiet = limits_.modules.request_time;
  const std::uint64_t token =
      host_->Handle(std::move(req), [waiter, executor, host, token_box, quiet](script::ModuleAnswer a) {
        boost::asio::post(executor, [waiter, executor, host, token_box, quiet, a = std::move(a)]() mutable {
          using Kind = script::ModuleAnswer::Kind;
          std::shared_ptr<ModuleStream> stream = waiter->parts.lock();
          if (a.kind == Kind::kPart) {
            if (!stream) {
              if (!waiter->parts.expired() || waiter->answer) return;  // cannot happen: parts come first, in order
              stream = std::make_shared<ModuleStream>(executor, host, *token_box, quiet);
              waiter->stream = stream;
              waiter->parts = stream;
              waiter->status = a.status;
              waiter->headers = std::move(a.headers);
            }
            stream->Push(std::move(a.body), a.end);
            waiter->timer.cancel();
            return;
          }
          if (stream) {  // the host failed while the module streamed: the response is cut short
            stream->Fail();
            return;
          }
          waiter->answer = std::move(a);
          waiter->timer.cancel();
        });
      });
  *token_box = token;
  waiter->timer.expires_after(limits_.modules.request_time);
  boost::system::error_code ec;
  while (!waiter->answer && !waiter->stream) {
    co_await waiter->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    if (waiter->answer || waiter->stream || ec != boost::asio::error::operation_aborted) break;
  }
  if (waiter->stream) {
    Reply r;
    r.kind = Reply::Kind::kStream;
    r.status = waiter->status >= 100 && waiter->status <= 599 ? waiter->status : 500;
    r.headers = std::move(waiter->headers);
    r.stream = std::move(waiter->stream);
    co_return r;
  }
  if (!waiter->answer) {
    host_->Abandon(token);
    host_->CountTimeout();
    spdlog::warn("resource {} did not answer within modules.request_time_ms={} (ctx.done never called?)", this->name(),
                 limits_.modules.request_time.count());
    Reply r = Reply::Error(500, "Module timed out");
    r.error_kind = "module_timeout";
    co_return r;
  }
  co_return ToReply(std::move(*waiter->answer));
}

Status RegisterModuleTypes(TypeRegistry& registry, const std::shared_ptr<script::NodeHost>& host) {
  for (const script::ModuleType& t : host->types()) {
    TypeTraits traits;
    traits.client = t.client_generation;
    traits.label = t.label;
    traits.default_path = t.default_path;
    for (const auto& e : t.events) {
      std::string file;
      for (char c : e) file += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      traits.events.push_back(file + ".js");
    }
    traits.dashboard_pages = traits.events.empty() ? std::vector<std::string>{"Config"}
                                                   : std::vector<std::string>{"Config", "Events"};
    if (t.basic_dashboard.is_object()) traits.settings_form = t.basic_dashboard;
    std::weak_ptr<script::NodeHost> weak = host;
    Factory make = [weak, type = t.name](const config::ResourceConfig& c,
                                        const Dependencies& deps) -> Result<std::shared_ptr<Resource>> {
      std::shared_ptr<script::NodeHost> h = weak.lock();
      if (!h) return Status::Unavailable("the module host is not running");
      auto id = h->Create(type, c.name, c.settings, c.dir);
      if (!id.ok()) return id.status();
      return std::shared_ptr<Resource>(std::make_shared<ModuleResource>(c.name, type, h, *id, deps.limits, deps.emitter));
    };
    SelfHost self_host;
    if (t.self_host) {
      TypeTraits own = traits;
      own.client = false;  // Deployd's /dpd.js lists the app's resources, not internal ones
      self_host = [weak, type = t.name, own](const Dependencies& deps) -> Result<std::shared_ptr<Resource>> {
        std::shared_ptr<script::NodeHost> h = weak.lock();
        if (!h) return Status::Unavailable("the module host is not running");
        auto made = h->CreateSelfHosted(type);
        if (!made.ok()) return made.status();
        if (!*made) return std::shared_ptr<Resource>();
        auto r = std::make_shared<ModuleResource>((*made)->second, type, h, (*made)->first, deps.limits, deps.emitter);
        r->set_traits(own);
        return std::shared_ptr<Resource>(std::move(r));
      };
    }
    if (Status s = registry.Register({t.name, traits, std::move(make), {}, std::move(self_host)}); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace dpd::resources
