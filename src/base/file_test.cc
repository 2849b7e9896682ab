#include "base/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

namespace dpd {
namespace {

TEST(FileTest, AtomicWriteReplacesContentAndSetsMode) {
  auto dir = std::filesystem::temp_directory_path() / ("dpd_file_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / "keys.json";
  ASSERT_TRUE(WriteFileAtomic(path, "old", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "new content", 0600).ok());
  auto read = ReadFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "new content");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temp file is left behind.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(FileTest, MissingFileIsNotFound) {
  auto r = ReadFile("/nonexistent/dpd/file");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace dpd
