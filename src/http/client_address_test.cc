#include "http/client_address.h"

#include <gtest/gtest.h>

namespace dpd::http {
namespace {

TrustedProxies Trust(std::vector<std::string> a) {
  auto t = TrustedProxies::Parse(a);
  EXPECT_TRUE(t.ok());
  return *t;
}

TEST(ClientAddressTest, AnUntrustedPeerIsItsOwnClient) {
  auto t = Trust({"10.0.0.1"});
  const std::string xff = "1.2.3.4";
  EXPECT_EQ(t.ClientOf("10.0.0.9", &xff), "10.0.0.9");
  EXPECT_EQ(TrustedProxies().ClientOf("10.0.0.1", &xff), "10.0.0.1");
  EXPECT_EQ(t.ClientOf("10.0.0.1", nullptr), "10.0.0.1");
}

TEST(ClientAddressTest, TheRightmostEntryNotATrustedProxyIsTheClient) {
  auto t = Trust({"10.0.0.1", "10.0.0.2"});
  std::string xff = "1.2.3.4";
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "1.2.3.4");
  xff = "1.2.3.4, 10.0.0.2";  // two proxies in a row
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "1.2.3.4");
  // What the client wrote itself (left of what the proxy appended) is not believed.
  xff = "127.0.0.1, 5.6.7.8";
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "5.6.7.8");
  xff = " 2001:db8::1 ";
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "2001:db8::1");
}

TEST(ClientAddressTest, GarbageEndsTheWalk) {
  auto t = Trust({"10.0.0.1"});
  std::string xff = "";
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "10.0.0.1");
  xff = "not-an-address";
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "10.0.0.1");
  xff = "1.2.3.4, unknown, 10.0.0.1";
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "10.0.0.1");  // every entry right of the garbage is a trusted proxy
  xff = std::string(100000, ',');
  EXPECT_EQ(t.ClientOf("10.0.0.1", &xff), "10.0.0.1");
}

TEST(ClientAddressTest, ParseRefusesNamesAndRanges) {
  EXPECT_FALSE(TrustedProxies::Parse({"lb.example"}).ok());
  EXPECT_FALSE(TrustedProxies::Parse({"10.0.0.0/8"}).ok());
  EXPECT_TRUE(TrustedProxies::Parse({"::1", "127.0.0.1"}).ok());
  EXPECT_TRUE(Trust({"::1"}).Trusts("::1"));
}

}  // namespace
}  // namespace dpd::http
