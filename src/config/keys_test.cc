#include "config/keys.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace dpd::config {
namespace {

TEST(KeysTest, GenerateAppendsAndReadsBack) {
  auto dir = std::filesystem::temp_directory_path() / ("dpd_keys_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto file = dir / ".dpd" / "keys.json";
  auto none = ReadKeys(file);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto k1 = GenerateKey(file);
  auto k2 = GenerateKey(file);
  ASSERT_TRUE(k1.ok());
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(k1->size(), 512u);
  EXPECT_NE(*k1, *k2);
  auto keys = ReadKeys(file);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0], *k1);
  EXPECT_EQ((*keys)[1], *k2);
  std::ofstream(file) << "not json";
  EXPECT_FALSE(ReadKeys(file).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dpd::config
