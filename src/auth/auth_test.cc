#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "auth/password.h"
#include "auth/rate_limiter.h"
#include "auth/root_keys.h"
#include "base/random.h"

namespace dpd::auth {
namespace {

const HashCost kFast{1, 8 * 1024};  // tests only: the cheapest argon2id

TEST(PasswordTest, Argon2idRoundTrip) {
  auto h = HashPassword("s3cret", kFast);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(VerifyPassword("s3cret", *h));
  EXPECT_FALSE(VerifyPassword("s3cret!", *h));
  EXPECT_FALSE(VerifyPassword("", *h));
  EXPECT_FALSE(NeedsRehash(*h, kFast));
  EXPECT_TRUE(NeedsRehash(*h, HashCost{}));  // weaker than the default cost
}

TEST(PasswordTest, DeploydLegacyFormat) {
  // Deployd: 256 hex chars of salt, then hex(HMAC-SHA256(key = salt, message = password)).
  const std::string salt = RandomHex(128);
  const std::string stored = LegacyHash("pw", salt);
  ASSERT_EQ(stored.size(), 320u);
  EXPECT_TRUE(VerifyPassword("pw", stored));
  EXPECT_FALSE(VerifyPassword("pW", stored));
  EXPECT_TRUE(NeedsRehash(stored));
  // RFC 4231 test case 2 pins the HMAC itself: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(LegacyHash("what do ya want for nothing?", "Jefe").substr(4),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_FALSE(VerifyPassword("pw", stored.substr(1)));  // wrong length
  EXPECT_FALSE(VerifyPassword("pw", "not a hash"));
  std::string upper = stored;
  upper[0] = 'G';
  EXPECT_FALSE(VerifyPassword("pw", upper));
}

TEST(PasswordTest, TokenDigestIsHexSha256) {
  EXPECT_EQ(TokenDigest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(TokenDigest("abd"), TokenDigest("abc"));
}

TEST(PasswordTest, UserHashIsMd5OfUsernameAndHash) {
  EXPECT_EQ(UserHash("", ""), "d41d8cd98f00b204e9800998ecf8427e");     // md5("")
  EXPECT_EQ(UserHash("a", "bc"), "900150983cd24fb0d6963f7d28e17f72");  // md5("abc")
}

TEST(RateLimiterTest, WindowAndBound) {
  RateLimiter limiter(3, std::chrono::seconds(10), 16);
  auto t0 = RateLimiter::Clock::now();
  EXPECT_TRUE(limiter.Allow("ip|alice", t0));
  EXPECT_TRUE(limiter.Allow("ip|alice", t0));
  EXPECT_TRUE(limiter.Allow("ip|alice", t0));
  EXPECT_FALSE(limiter.Allow("ip|alice", t0 + std::chrono::seconds(1)));
  EXPECT_TRUE(limiter.Allow("ip|bob", t0 + std::chrono::seconds(1)));
  EXPECT_TRUE(limiter.Exceeded("ip|alice", t0 + std::chrono::seconds(2)));
  EXPECT_FALSE(limiter.Exceeded("ip|bob", t0 + std::chrono::seconds(2)));
  EXPECT_TRUE(limiter.Allow("ip|alice", t0 + std::chrono::seconds(11)));  // a new window
  for (int i = 0; i < 1000; ++i) limiter.Allow("k" + std::to_string(i), t0 + std::chrono::seconds(12));
  EXPECT_LE(limiter.size(), 16u);
}

TEST(RootKeysTest, MatchesKeysAndRereadsTheFile) {
  auto file = std::filesystem::temp_directory_path() / ("dpd-root-keys-" + std::to_string(::getpid()));
  int loads = 0;
  RootKeys::Loader load = [&loads](const std::filesystem::path& f) -> Result<std::vector<std::string>> {
    ++loads;
    std::ifstream in(f);
    std::vector<std::string> keys;
    for (std::string line; std::getline(in, line);) keys.push_back(line);
    return keys;
  };
  { std::ofstream(file) << "alpha\n"; }
  RootKeys keys(file, load, false);
  EXPECT_TRUE(keys.Matches("alpha"));
  EXPECT_FALSE(keys.Matches("alph"));
  EXPECT_FALSE(keys.Matches(""));
  EXPECT_TRUE(keys.Matches("alpha"));
  EXPECT_EQ(loads, 1) << "read again only when the file changes";
  std::filesystem::remove(file);
  EXPECT_FALSE(keys.Matches("alpha")) << "a removed file leaves no keys";
  RootKeys any(file, load, true);
  EXPECT_TRUE(any.Matches("whatever"));
  EXPECT_FALSE(any.Matches(""));
}

}  // namespace
}  // namespace dpd::auth
