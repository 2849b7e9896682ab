#include "auth/password.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <array>

namespace dpd::auth {
namespace {

constexpr std::size_t kLegacySaltChars = 256;
constexpr std::size_t kLegacyHashChars = kLegacySaltChars + 64;

std::string Hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

void EnsureSodium() {
  static const int ready = sodium_init();
  (void)ready;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password, const HashCost& cost) {
  EnsureSodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), cost.ops, cost.memory_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::Internal("password hashing ran out of memory");
  }
  return std::string(out.data());
}

std::string LegacyHash(std::string_view password, std::string_view salt) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()),
       reinterpret_cast<const unsigned char*>(password.data()), password.size(), mac, &mac_len);
  return std::string(salt) + Hex(mac, mac_len);
}

bool VerifyPassword(std::string_view password, std::string_view stored) {
  EnsureSodium();
  if (stored.rfind("$argon2id$", 0) == 0) {
    std::string copy(stored);  // crypto_pwhash_str_verify needs a NUL-terminated string
    return crypto_pwhash_str_verify(copy.c_str(), password.data(), password.size()) == 0;
  }
  if (stored.size() != kLegacyHashChars || !IsLowerHex(stored)) return false;
  const std::string expected = LegacyHash(password, stored.substr(0, kLegacySaltChars));
  return sodium_memcmp(expected.data(), stored.data(), kLegacyHashChars) == 0;
}

bool NeedsRehash(std::string_view stored, const HashCost& cost) {
  EnsureSodium();
  if (stored.rfind("$argon2id$", 0) != 0) return true;
  std::string copy(stored);
  return crypto_pwhash_str_needs_rehash(copy.c_str(), cost.ops, cost.memory_bytes) != 0;
}

std::string UserHash(std::string_view username, std::string_view stored_hash) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  EVP_DigestUpdate(ctx, username.data(), username.size());
  EVP_DigestUpdate(ctx, stored_hash.data(), stored_hash.size());
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return Hex(digest, len);
}

std::string TokenDigest(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr);
  return Hex(digest, len);
}

}  // namespace dpd::auth
