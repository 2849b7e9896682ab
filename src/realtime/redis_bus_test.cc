#include "realtime/redis_bus.h"

#include <gtest/gtest.h>

namespace dpd::realtime {
namespace {

TEST(RedisUrl, HostPortDbPasswordPrefix) {
  auto u = ParseRedisUrl("redis://:s3cret@cache.internal:6380/3?prefix=shop");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 3);
  EXPECT_EQ(u->password, "s3cret");
  EXPECT_EQ(u->prefix, "shop");
}

TEST(RedisUrl, Defaults) {
  auto u = ParseRedisUrl("redis://");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
  EXPECT_EQ(u->prefix, "db0") << "one Redis database is one app unless a prefix says otherwise";
  auto v = ParseRedisUrl("redis://10.0.0.5/2");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->host, "10.0.0.5");
  EXPECT_EQ(v->prefix, "db2");
}

TEST(RedisUrl, Refused) {
  for (const char* bad : {"http://h", "redis://h:0", "redis://h:99999", "redis://h:12x", "redis://h/16", "redis://h/-1",
                          "redis://h?x=1", "redis://h?prefix=", "redis://h?prefix=a b", "redis://h?prefix=a:b"}) {
    auto u = ParseRedisUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_NE(u.status().message().find("--bus must be redis://"), std::string::npos) << bad;
    }
  }
}

}  // namespace
}  // namespace dpd::realtime
