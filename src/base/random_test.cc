#include "base/random.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace dpd {
namespace {

TEST(RandomTest, HexHasRequestedLength) {
  EXPECT_EQ(RandomHex(64).size(), 128u);
  EXPECT_EQ(RandomHex(0).size(), 0u);
}

TEST(RandomTest, DocumentIdsFollowDeploydPattern) {
  const std::regex pattern("^[0-9a-f]{13}[89ab][0-9a-f]{2}$");
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string id = NewDocumentId();
    ASSERT_TRUE(std::regex_match(id, pattern)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 2000u);
}

}  // namespace
}  // namespace dpd
