#pragma once
// UserCollection (spec §7): a Collection of users with login, logout and /me, Deployd's session records, and the
// security holes of spec §16.2 closed:
//
// * passwords: argon2id for new hashes; Deployd's salt+HMAC-SHA256 hashes verified and upgraded at the next
//   successful login (auth/password.h); hashing runs on a small blocking pool, off the event loop;
// * `password` is never returned and, for non-root callers, never filterable, sortable or projectable;
// * username and password change only for the user itself (its session), root or an internal call — never because
//   the body carries an id (item 1); usernames are unique by a unique index (item 7);
// * a login always creates a new session id (item 8); all sessions of a user are removed when its username or
//   password changes or it is deleted;
// * login attempts are rate-limited per IP and username (429).
//
// Thread-safety: as Collection.

#include <boost/asio/thread_pool.hpp>

#include <memory>

#include "auth/password.h"
#include "auth/rate_limiter.h"
#include "base/shared_counter.h"
#include "resources/collection.h"
#include "session/session_store.h"

namespace dpd::resources {

struct UserOptions {
  session::SessionStore* sessions = nullptr;
  boost::asio::thread_pool* hash_pool = nullptr;  // argon2id work
  auth::HashCost hash_cost;
  auth::RateLimiter* login_limiter = nullptr;   // per IP+username
  SharedCounter* shared_attempts = nullptr;     // the same count across nodes (the Redis bus), or null
  std::size_t login_attempts = 5;               // what shared_attempts may reach
  auth::RateLimiter* signup_limiter = nullptr;  // anonymous creates, per IP
  std::int64_t login_window_ms = 15000;         // for Retry-After
  std::int64_t signup_window_ms = 5000;
  std::size_t max_password_bytes = 1024;
  auth::RateLimiter* reset_limiter = nullptr;  // /forgot and /reset, per IP (each its own key)
  std::int64_t reset_window_ms = 900000;       // for Retry-After
  std::chrono::milliseconds reset_token_time{3600000};
  std::chrono::milliseconds reset_answer_time{250};
};

// Where password-reset tokens are kept (as digests): a name no resource can have.
inline constexpr std::string_view kResetTokens = "dpd:password-resets";

class UserCollection : public Collection {
 public:
  // `schema` as configured; username and password are forced to required strings, username unique.
  UserCollection(std::string name, query::Schema schema, store::Store* store, const Limits& limits,
                 std::shared_ptr<EventRunner> events, const UserOptions& options);

  boost::asio::awaitable<Reply> Handle(Context& ctx) override;

  // The session hook (spec §3.7): the session's user without password when its userhash still matches, else
  // nullopt (and `invalidated` when the user exists with other credentials or is gone).
  boost::asio::awaitable<std::optional<json::object>> LoadMe(const session::Session& s, bool& invalidated);

  static query::Schema WithUserFields(query::Schema schema);

 protected:
  query::ParseOptions QueryOptions(const Context& ctx) const override;
  bool RawReadable() const override { return false; }
  void Scrub(json::object& doc) const override { doc.stable_erase("password"); }
  boost::asio::awaitable<std::optional<Reply>> PrepareBody(Context& ctx, json::object& body, bool create) override;
  boost::asio::awaitable<void> Written(Context& ctx, const std::string& id, const json::object* previous,
                                       const json::object* current) override;
  bool HasRename() const override { return false; }
  // Each user costs a password hash and counts against the sign-up limit: several in one POST only for root.
  std::optional<Reply> RefuseBulkCreate(const Context& ctx) const override {
    if (ctx.is_root) return std::nullopt;
    return Reply::Error(400, "Users are created one per request (root may post an array)");
  }

 private:
  boost::asio::awaitable<Reply> Login(Context& ctx);
  boost::asio::awaitable<Reply> Logout(Context& ctx);
  boost::asio::awaitable<Reply> Me(Context& ctx);
  boost::asio::awaitable<Reply> Forgot(Context& ctx);
  boost::asio::awaitable<Reply> Reset(Context& ctx);
  // A 429 when the reset limiter refuses this address for `what` ("forgot" / "reset").
  std::optional<Reply> ResetLimited(const Context& ctx, std::string_view what) const;
  boost::asio::awaitable<std::optional<store::Document>> FindBy(const std::string& field, const std::string& value);
  boost::asio::awaitable<Result<std::string>> Hash(const std::string& password);
  boost::asio::awaitable<bool> Verify(const std::string& password, const std::string& stored);

  UserOptions options_;
};

}  // namespace dpd::resources
