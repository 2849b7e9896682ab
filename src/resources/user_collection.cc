#include "resources/user_collection.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

#include "base/log.h"
#include "base/random.h"
#include "query/js.h"

namespace dpd::resources {
namespace {

constexpr std::string_view kBadCredentials = "bad credentials";
constexpr std::string_view kNotSpecified = "username or password not specified";
constexpr std::string_view kClearCookie = "sid=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly";

std::string Str(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

query::Schema UserCollection::WithUserFields(query::Schema schema) {
  for (const char* field : {"username", "password"}) {
    query::Property* p = nullptr;
    for (auto& prop : schema.properties) {
      if (prop.name == field) p = &prop;
    }
    if (p == nullptr) {
      schema.properties.push_back(query::Property{});
      p = &schema.properties.back();
      p->name = field;
    }
    p->type = query::Type::kString;
    p->has_type = true;
    p->required = true;
    if (std::string_view(field) == "username") p->unique = true;  // uniqueness by index, not by a lookup (§16.2 #7)
  }
  return schema;
}

UserCollection::UserCollection(std::string name, query::Schema schema, store::Store* store, const Limits& limits,
                               std::shared_ptr<EventRunner> events, const UserOptions& options)
    : Collection(std::move(name), "UserCollection", WithUserFields(std::move(schema)), store, limits,
                 std::move(events)),
      options_(options) {}

query::ParseOptions UserCollection::QueryOptions(const Context& ctx) const {
  query::ParseOptions o;
  if (!ctx.is_root) o.forbidden_fields.push_back("password");  // no $regex oracle on hashes (§16.2 #3)
  return o;
}

boost::asio::awaitable<Result<std::string>> UserCollection::Hash(const std::string& password) {
  const auth::HashCost cost = options_.hash_cost;
  co_return co_await boost::asio::co_spawn(
      options_.hash_pool->get_executor(),
      [&password, cost]() -> boost::asio::awaitable<Result<std::string>> {
        co_return auth::HashPassword(password, cost);
      },
      boost::asio::use_awaitable);
}

boost::asio::awaitable<bool> UserCollection::Verify(const std::string& password, const std::string& stored) {
  co_return co_await boost::asio::co_spawn(
      options_.hash_pool->get_executor(),
      [&password, &stored]() -> boost::asio::awaitable<bool> { co_return auth::VerifyPassword(password, stored); },
      boost::asio::use_awaitable);
}

boost::asio::awaitable<std::optional<store::Document>> UserCollection::FindBy(const std::string& field,
                                                                              const std::string& value) {
  query::Query q;
  q.filter.kind = query::Filter::Kind::kCondition;
  q.filter.condition.path = field;
  q.filter.condition.op = query::Op::kEq;
  q.filter.condition.operand = json::string(value);
  q.filter.condition.array_aware = false;
  if (field == "id") q.id = value;
  q.limit = 1;
  auto found = co_await store()->Find(name(), q, 1);
  if (!found.ok() || found->empty()) co_return std::nullopt;
  co_return std::move((*found)[0]);
}

boost::asio::awaitable<std::optional<json::object>> UserCollection::LoadMe(const session::Session& s,
                                                                           bool& invalidated) {
  auto user = co_await FindBy("id", s.uid);
  if (!user) {
    invalidated = true;
    co_return std::nullopt;
  }
  if (auth::UserHash(Str(user->fields, "username"), Str(user->fields, "password")) != s.userhash) {
    invalidated = true;
    co_return std::nullopt;
  }
  json::object me = Collection::ToClient(std::move(*user));
  me.stable_erase("password");
  co_return me;
}

boost::asio::awaitable<Reply> UserCollection::Handle(Context& ctx) {
  std::string_view rest = std::string_view(ctx.url).substr(1);
  std::string_view segment = rest.substr(0, rest.find('/'));
  if (segment == "login" && ctx.method == "POST") co_return co_await Login(ctx);
  if (segment == "logout") co_return co_await Logout(ctx);
  if (segment == "me" && ctx.method == "GET") co_return co_await Me(ctx);
  if (segment == "forgot" && ctx.method == "POST") co_return co_await Forgot(ctx);
  if (segment == "reset" && ctx.method == "POST") co_return co_await Reset(ctx);
  co_return co_await Collection::Handle(ctx);
}

boost::asio::awaitable<std::optional<Reply>> UserCollection::PrepareBody(Context& ctx, json::object& body,
                                                                         bool create) {
  if (create && !ctx.is_root && !ctx.internal && !ctx.me && options_.signup_limiter &&
      !options_.signup_limiter->Allow(ctx.remote_ip)) {
    // Anonymous sign-ups are counted per address before any work (each costs a password hash).
    Reply r = Reply::Error(429, "Too many sign-ups from this address; try again later");
    r.headers.emplace_back("Retry-After", std::to_string((options_.signup_window_ms + 999) / 1000));
    co_return r;
  }
  bool may_change_credentials = create || ctx.is_root || ctx.internal;
  if (!may_change_credentials && ctx.session && ctx.me) {
    // Only the user itself (its session) — never "the body carries an id" (§16.2 #1).
    const json::value* target = ctx.query.if_contains("id");
    may_change_credentials = target && target->is_string() && target->as_string() == ctx.session->uid;
  }
  if (!may_change_credentials) {
    body.stable_erase("username");
    body.stable_erase("password");
    co_return std::nullopt;
  }
  if (const json::value* pw = body.if_contains("password")) {
    if (pw->is_string() && pw->as_string().size() > options_.max_password_bytes) {
      Reply r = Reply::Json(json::object{{"errors", json::object{{"password", "is too long"}}}}, 400);
      r.kind = Reply::Kind::kError;
      co_return r;
    }
    if (pw->is_string() && !pw->as_string().empty()) {
      auto hash = co_await Hash(std::string(pw->as_string()));
      if (!hash.ok()) co_return Reply::FromStatus(hash.status());
      body["password"] = *hash;
    } else if (create) {
      body.stable_erase("password");  // then "is required"
    } else {
      Reply r = Reply::Json(json::object{{"errors", json::object{{"password", "is required"}}}}, 400);
      r.kind = Reply::Kind::kError;
      co_return r;
    }
  }
  co_return std::nullopt;
}

boost::asio::awaitable<void> UserCollection::Written(Context&, const std::string& id, const json::object* previous,
                                                     const json::object* current) {
  bool drop = current == nullptr;  // deleted
  if (!drop && previous != nullptr) {
    drop = Str(*previous, "username") != Str(*current, "username") ||
           Str(*previous, "password") != Str(*current, "password");
  }
  if (!drop || options_.sessions == nullptr) co_return;
  auto n = co_await options_.sessions->RemoveUser(id);
  if (n.ok() && *n > 0) spdlog::info("sessions removed user={} count={} reason=credentials", id, *n);
}

boost::asio::awaitable<Reply> UserCollection::Login(Context& ctx) {
  EventOutcome before = co_await Fire(Event::kBeforeRequest, "LOGIN", nullptr, nullptr, ctx);
  if (before.cancelled()) co_return before.ErrorReply();
  const json::object body = ctx.body && ctx.body->is_object() ? ctx.body->as_object() : json::object();
  const json::value* u = body.if_contains("username");
  const json::value* p = body.if_contains("password");
  // Strings only: {"$ne": null} and friends never reach a query (Deployd issues #735, #736).
  if (u == nullptr || p == nullptr || !u->is_string() || !p->is_string()) co_return Reply::Error(400, kNotSpecified);
  if (p->as_string().size() > options_.max_password_bytes) {
    co_return Reply::Error(400, "password longer than " + std::to_string(options_.max_password_bytes) + " bytes");
  }
  const std::string username(u->as_string());
  const std::string password(p->as_string());
  const std::string limiter_key = ctx.remote_ip + "|" + username;
  // The attempt is counted before the password is checked, so a burst cannot pass while earlier attempts are still
  // being verified; a login that succeeds gives its attempt back (only failures count).
  // With several nodes the count is also kept in Redis, so attempts spread over the nodes add up; when Redis cannot
  // answer, this node's own count still holds.
  bool allowed = !options_.login_limiter || options_.login_limiter->Allow(limiter_key);
  bool shared_counted = false;
  if (allowed && options_.shared_attempts) {
    auto n = co_await options_.shared_attempts->Increment("login|" + limiter_key,
                                                          std::chrono::milliseconds(options_.login_window_ms));
    shared_counted = n.has_value();
    if (n && *n > static_cast<std::int64_t>(options_.login_attempts)) {
      allowed = false;
      if (options_.login_limiter) options_.login_limiter->Refund(limiter_key);
    }
  }
  if (!allowed) {
    Reply r = Reply::Error(429, "Too many login attempts; try again later");
    r.headers.emplace_back("Retry-After", std::to_string((options_.login_window_ms + 999) / 1000));
    co_return r;
  }
  std::optional<store::Document> user = co_await FindBy("username", username);
  std::string stored_hash = user ? Str(user->fields, "password") : std::string();
  bool success = false;
  if (user && !stored_hash.empty()) success = co_await Verify(password, stored_hash);
  if (success && options_.login_limiter) options_.login_limiter->Refund(limiter_key);
  if (success && shared_counted) options_.shared_attempts->Decrement("login|" + limiter_key);

  EventRunner& events = this->events();
  if (events.Has(Event::kLogin)) {
    json::object self;
    if (user) {
      self = Collection::ToClient(*user);
      self.stable_erase("password");
    }
    const json::object loaded = self;
    EventCall call;
    call.event = Event::kLogin;
    call.method = "LOGIN";
    call.data = &self;
    call.query = &ctx.query;
    call.ctx = &ctx;
    call.success = success;
    EventOutcome out = co_await events.Run(call);
    if (out.cancelled()) co_return out.ErrorReply();
    if (user && self != loaded) {
      // The Login script's changes are saved (events skipped); id, username and password stay (spec §7.3).
      json::object fields = user->fields;
      for (const auto& kv : self) {
        if (kv.key() == "id" || kv.key() == "username" || kv.key() == "password") continue;
        fields[kv.key()] = kv.value();
      }
      for (const auto& kv : loaded) {
        if (!self.contains(kv.key()) && kv.key() != "id") fields.stable_erase(kv.key());
      }
      user->fields = fields;
      store::Document doc{user->id, fields};
      Status s = co_await store()->Replace(name(), doc);
      if (!s.ok()) spdlog::warn("login: changes of login.js not saved user={} error={}", user->id, s.message());
    }
  }
  if (!success) co_return Reply::Error(401, kBadCredentials);

  if (auth::NeedsRehash(stored_hash, options_.hash_cost)) {
    // A Deployd (or weaker) hash: replaced by argon2id now that the password is known.
    auto fresh = co_await Hash(password);
    if (fresh.ok()) {
      user->fields["password"] = *fresh;
      store::Document doc{user->id, user->fields};
      Status s = co_await store()->Replace(name(), doc);
      if (s.ok())
        stored_hash = *fresh;
      else
        spdlog::warn("login: password hash not upgraded user={} error={}", user->id, s.message());
    }
  }
  if (options_.sessions == nullptr) co_return Reply::Error(500, "sessions are not available");
  // A new session id at every login (no fixation, §16.2 #8); the old session of this client ends.
  if (ctx.session) (void)co_await options_.sessions->Remove(ctx.session->id);
  auto session = co_await options_.sessions->Create(path(), user->id, auth::UserHash(username, stored_hash));
  if (!session.ok()) {
    spdlog::error("login: session not stored: {}", session.status().message());
    co_return Reply::FromStore(session.status());
  }
  const std::string& sid = (*session)->id;
  Reply r = Reply::Json(json::object{{"path", path()}, {"id", sid}, {"uid", user->id}});
  if (!ctx.internal) {
    r.headers.emplace_back("Set-Cookie", "sid=" + sid + "; path=/; httponly");
    r.headers.emplace_back("X-Session-Token", sid);
  }
  co_return r;
}

boost::asio::awaitable<Reply> UserCollection::Logout(Context& ctx) {
  EventOutcome before = co_await Fire(Event::kBeforeRequest, "LOGOUT", nullptr, nullptr, ctx);
  if (before.cancelled()) co_return before.ErrorReply();
  bool existed = false;
  if (ctx.session && options_.sessions) {
    auto removed = co_await options_.sessions->Remove(ctx.session->id);
    existed = removed.ok() && *removed;
  }
  Reply r;
  if (existed) {
    r = Reply::Json(json::object{{"count", 1}});
  } else {
    r.kind = Reply::Kind::kText;  // Deployd: 200 with an empty text/html body
    r.status = 200;
  }
  if (!ctx.internal) r.headers.emplace_back("Set-Cookie", std::string(kClearCookie));
  co_return r;
}

boost::asio::awaitable<Reply> UserCollection::Me(Context& ctx) {
  if (!ctx.session || ctx.session->uid.empty() || !ctx.me || ctx.session->path != path()) {
    co_return Reply::Empty(204);
  }
  const bool plain = !events().Has(Event::kGet) && !events().Has(Event::kBeforeRequest) && ctx.query.empty();
  if (plain) co_return Reply::Json(*ctx.me);  // the user the session hook just loaded
  json::value id = json::string(ctx.session->uid);
  ctx.query["id"] = id;
  Reply r = co_await Get(ctx, &id);
  if (r.kind == Reply::Kind::kError) co_return Reply::Empty(204);
  co_return r;
}

namespace {

constexpr std::string_view kBadToken = "This reset token is invalid or has expired";

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<Reply> UserCollection::ResetLimited(const Context& ctx, std::string_view what) const {
  if (ctx.is_root || ctx.internal || options_.reset_limiter == nullptr) return std::nullopt;
  if (options_.reset_limiter->Allow(std::string(what) + "|" + ctx.remote_ip)) return std::nullopt;
  Reply r = Reply::Error(429, "Too many password reset requests; try again later");
  r.headers.emplace_back("Retry-After", std::to_string((options_.reset_window_ms + 999) / 1000));
  return r;
}

// POST /<users>/forgot {username}: the same answer, no sooner than reset_answer_time, whether the user exists or
// not. For a user that exists, and when the collection has forgot.js, a single-use token is stored as its digest
// with an expiry and handed to forgot.js (`this` the user without password, `token` the plain token), which
// delivers it (dpd.email.post, emit, …).
boost::asio::awaitable<Reply> UserCollection::Forgot(Context& ctx) {
  if (std::optional<Reply> limited = ResetLimited(ctx, "forgot")) co_return std::move(*limited);
  const auto started = std::chrono::steady_clock::now();
  const json::object body = ctx.body && ctx.body->is_object() ? ctx.body->as_object() : json::object();
  const json::value* u = body.if_contains("username");
  if (u == nullptr || !u->is_string() || u->as_string().empty()) co_return Reply::Error(400, "username not specified");
  std::optional<store::Document> user = co_await FindBy("username", std::string(u->as_string()));
  if (user && events().Has(Event::kForgot)) {
    const std::string token = RandomHex(32);
    store::Document record;
    record.id = auth::TokenDigest(token);
    record.fields["uid"] = user->id;
    record.fields["users"] = name();
    record.fields["expires"] = NowMs() + options_.reset_token_time.count();
    const std::vector<std::string> record_ids(1, record.id);
    Status stored = co_await store()->Insert(kResetTokens, record);
    if (!stored.ok()) {
      spdlog::error("forgot: token not stored user={} error={}", user->id, stored.message());
    } else {
      json::object self = Collection::ToClient(std::move(*user));
      self.stable_erase("password");
      EventCall call;
      call.event = Event::kForgot;
      call.method = "POST";
      call.data = &self;
      call.query = &ctx.query;
      call.ctx = &ctx;
      call.token = token;
      EventOutcome out = co_await events().Run(call);
      if (out.cancelled()) {  // not delivered: the token must not stay usable; the answer stays the same
        spdlog::warn("forgot.js failed user={} error={}", std::string(record.fields.at("uid").as_string()),
                     out.status.message());
        (void)co_await store()->Remove(kResetTokens, record_ids);
      }
    }
  }
  boost::asio::steady_timer pad(co_await boost::asio::this_coro::executor);
  pad.expires_at(started + options_.reset_answer_time);
  boost::system::error_code ec;
  co_await pad.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  co_return Reply::Empty(204);
}

// POST /<users>/reset {token, password}: burns the token (one request wins it, however many race), sets the new
// password and ends every session of the user.
boost::asio::awaitable<Reply> UserCollection::Reset(Context& ctx) {
  if (std::optional<Reply> limited = ResetLimited(ctx, "reset")) co_return std::move(*limited);
  const json::object body = ctx.body && ctx.body->is_object() ? ctx.body->as_object() : json::object();
  const json::value* t = body.if_contains("token");
  const json::value* p = body.if_contains("password");
  if (t == nullptr || p == nullptr || !t->is_string() || !p->is_string() || p->as_string().empty()) {
    co_return Reply::Error(400, "token and password not specified");
  }
  if (p->as_string().size() > options_.max_password_bytes) {
    co_return Reply::Error(400, "password longer than " + std::to_string(options_.max_password_bytes) + " bytes");
  }
  const std::string digest = auth::TokenDigest(t->as_string());
  query::Query q;
  q.filter.kind = query::Filter::Kind::kCondition;
  q.filter.condition.path = "id";
  q.filter.condition.operand = json::string(digest);
  q.filter.condition.array_aware = false;
  q.id = digest;
  q.limit = 1;
  auto found = co_await store()->Find(kResetTokens, q, 1);
  if (!found.ok()) co_return Reply::FromStore(found.status());
  if (found->empty()) co_return Reply::Error(400, kBadToken);
  const store::Document record = std::move((*found)[0]);
  const std::vector<std::string> digests(1, digest);
  auto removed = co_await store()->Remove(kResetTokens, digests);
  if (!removed.ok()) co_return Reply::FromStore(removed.status());
  if (*removed != 1) co_return Reply::Error(400, kBadToken);  // another request used it first
  const json::value* expires = record.fields.if_contains("expires");
  const json::value* users = record.fields.if_contains("users");
  const json::value* uid = record.fields.if_contains("uid");
  if (expires == nullptr || !expires->is_number() || expires->to_number<double>() < static_cast<double>(NowMs()) ||
      users == nullptr || !users->is_string() || users->as_string() != name() || uid == nullptr ||
      !uid->is_string()) {
    co_return Reply::Error(400, kBadToken);
  }
  auto hash = co_await Hash(std::string(p->as_string()));
  if (!hash.ok()) co_return Reply::FromStatus(hash.status());
  store::Patch patch;
  patch.set["password"] = *hash;
  const std::string user_id(uid->as_string());
  auto written = co_await store()->Update(name(), user_id, patch);
  if (!written.ok() && written.status().code() == Code::kNotFound) co_return Reply::Error(400, kBadToken);
  if (!written.ok()) co_return Reply::FromStore(written.status());
  if (options_.sessions != nullptr) {
    auto n = co_await options_.sessions->RemoveUser(user_id);
    if (n.ok()) spdlog::info("sessions removed user={} count={} reason=password-reset", user_id, *n);
  }
  co_return Reply::Empty(204);
}

}  // namespace dpd::resources
