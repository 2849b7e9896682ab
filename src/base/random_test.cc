#include "base/random.h"

#include <gtest/gtest.h>

#include <set>

namespace dpd {
namespace {

TEST(RandomTest, HexHasRequestedLength) {
  EXPECT_EQ(RandomHex(64).size(), 128u);
  EXPECT_EQ(RandomHex(0).size(), 0u);
}

TEST(RandomTest, DocumentIdsFollowDeploydPattern) {
  // ^[0-9a-f]{13}[89ab][0-9a-f]{2}$
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  std::set<std::string> seen;
  std::set<char> at13;
  for (int i = 0; i < 2000; ++i) {
    std::string id = NewDocumentId();
    ASSERT_EQ(id.size(), 16u);
    for (char c : id) ASSERT_TRUE(hex(c)) << id;
    ASSERT_NE(std::string("89ab").find(id[13]), std::string::npos) << id;
    at13.insert(id[13]);
    seen.insert(id);
  }
  EXPECT_EQ(at13.size(), 4u);  // all of 8, 9, a, b occur
  EXPECT_EQ(seen.size(), 2000u);
}

}  // namespace
}  // namespace dpd
