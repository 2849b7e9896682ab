#pragma once
// Password hashes (spec §7.1, ARCHITECTURE §6). New hashes are argon2id (libsodium's crypto_pwhash_str, strings
// starting "$argon2id$"). Deployd's legacy format — salt (256 hex chars) + hex(HMAC-SHA256(key = salt, message =
// password)), 320 lower-case hex chars in all — is verified in constant time, and NeedsRehash() tells the caller to
// replace it with an argon2id hash after the next successful login.
//
// Hashing and verifying argon2id take tens of milliseconds of CPU and ~19 MiB of memory each: call them off the
// event loop (resources/ runs them on a small blocking pool). Thread-safe.

#include <string>
#include <string_view>

#include "base/status.h"

namespace dpd::auth {

// argon2id cost: OWASP's minimum (19 MiB, 2 passes, 1 lane) — fast enough for a login, bounded in memory.
struct HashCost {
  unsigned long long ops = 2;
  std::size_t memory_bytes = 19 * 1024 * 1024;
};

// A new argon2id hash of `password`. Internal error only when the system is out of memory.
Result<std::string> HashPassword(std::string_view password, const HashCost& cost = {});

// True when `password` matches `stored` (argon2id or Deployd's legacy format); false for anything unreadable.
bool VerifyPassword(std::string_view password, std::string_view stored);

// True when `stored` is not an argon2id hash with at least `cost` (a legacy hash, or weaker parameters).
bool NeedsRehash(std::string_view stored, const HashCost& cost = {});

// Deployd's legacy hash, for tests and migration tools: salt + hex(HMAC-SHA256(salt, password)).
std::string LegacyHash(std::string_view password, std::string_view salt);

// Deployd's session "userhash": hex(md5(username + stored password hash)) (spec §3.7, §7.3). Sessions made by
// Deployd keep working because the formula is the same.
std::string UserHash(std::string_view username, std::string_view stored_hash);

// Hex SHA-256 of a random token (a password-reset token is stored only as this: a leaked table grants nothing).
std::string TokenDigest(std::string_view token);

}  // namespace dpd::auth
