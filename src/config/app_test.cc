#include "config/app.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace dpd::config {
namespace {
namespace fs = std::filesystem;

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("dpd_app_test_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    Write("app.dpd", "{}");
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  fs::path root_;
};

TEST_F(AppTest, LoadsNestedResourcesAndScripts) {
  Write("resources/todos/config.json", R"({"type":"Collection","properties":{}})");
  Write("resources/todos/get.js", "cancel()");
  Write("resources/todos/Post.JS", "x()");
  Write("resources/todos/validate.js", "");  // empty = no event
  Write("resources/somenamespace/test/config.json", R"({"type":"Collection"})");
  Write("resources/users/config.json", R"({"type":"UserCollection"})");
  Write("resources/users/photos/config.json", R"({"type":"Collection"})");
  auto app = LoadApp(root_, "development");
  ASSERT_TRUE(app.ok());
  ASSERT_EQ(app->resources.size(), 4u);
  EXPECT_EQ(app->resources[0].name, "somenamespace/test");
  EXPECT_EQ(app->resources[1].name, "todos");
  EXPECT_EQ(app->resources[2].name, "users");
  EXPECT_EQ(app->resources[3].name, "users/photos");
  const auto& todos = app->resources[1];
  EXPECT_EQ(todos.type, "Collection");
  ASSERT_EQ(todos.scripts.size(), 2u);
  EXPECT_EQ(todos.scripts.at("get.js"), "cancel()");
  EXPECT_EQ(todos.scripts.at("post.js"), "x()");
  EXPECT_TRUE(app->problems.empty());
}

TEST_F(AppTest, AppStampFollowsConfigsAndScripts) {
  Write("resources/todos/config.json", R"({"type":"Collection"})");
  const std::string a = AppStamp(root_);
  EXPECT_EQ(AppStamp(root_), a);
  Write("resources/todos/notes.txt", "not read by LoadApp");
  EXPECT_EQ(AppStamp(root_), a);
  Write("resources/todos/get.js", "hide('x')");
  const std::string b = AppStamp(root_);
  EXPECT_NE(b, a) << "a script added";
  Write("resources/a/b/config.json", R"({"type":"Collection"})");
  const std::string c = AppStamp(root_);
  EXPECT_NE(c, b) << "a nested resource added";
  Write("resources/a/b/config.json", R"({"type":"Collection","properties":{}})");
  EXPECT_NE(AppStamp(root_), c) << "a config edited (size differs)";
  fs::remove(root_ / "resources/todos/get.js");
  EXPECT_NE(AppStamp(root_), c) << "a script removed";
}

TEST_F(AppTest, BrokenConfigsAreReportedAndSkipped) {
  Write("resources/good/config.json", R"({"type":"Collection"})");
  Write("resources/broken/config.json", R"({"type":"Collection",)");
  Write("resources/notype/config.json", R"({"properties":{}})");
  Write("resources/array/config.json", R"([1])");
  Write("resources/__reserved/config.json", R"({"type":"Collection"})");
  auto app = LoadApp(root_, "development");
  ASSERT_TRUE(app.ok());
  ASSERT_EQ(app->resources.size(), 1u);
  EXPECT_EQ(app->resources[0].name, "good");
  ASSERT_EQ(app->problems.size(), 4u);
  std::string all;
  for (const auto& p : app->problems) all += p + "\n";
  EXPECT_NE(all.find("resources/broken/config.json"), std::string::npos) << all;
  EXPECT_NE(all.find("resources/notype/config.json: missing \"type\""), std::string::npos) << all;
  EXPECT_NE(all.find("resources/array/config.json: not a JSON object"), std::string::npos) << all;
  EXPECT_NE(all.find("resources/__reserved/config.json: invalid resource name"), std::string::npos) << all;
}

TEST_F(AppTest, PublicFolderPerEnvironment) {
  fs::create_directories(root_ / "public");
  auto dev = LoadApp(root_, "development");
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->public_dir.filename(), "public");
  fs::create_directories(root_ / "public-production");
  auto prod = LoadApp(root_, "production");
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(prod->public_dir.filename(), "public-production");
}

TEST_F(AppTest, NotAnAppFolder) {
  fs::remove(root_ / "app.dpd");
  auto app = LoadApp(root_, "development");
  ASSERT_FALSE(app.ok());
  EXPECT_NE(app.status().message().find("does not contain a Deployd app"), std::string::npos);
}

TEST(ResourceNameTest, Rules) {
  EXPECT_TRUE(IsValidResourceName("todos"));
  EXPECT_TRUE(IsValidResourceName("a/b-c/d_e"));
  EXPECT_FALSE(IsValidResourceName(""));
  EXPECT_FALSE(IsValidResourceName("__resources"));
  EXPECT_FALSE(IsValidResourceName("a//b"));
  EXPECT_FALSE(IsValidResourceName("a/../b"));
  EXPECT_FALSE(IsValidResourceName("a b"));
  EXPECT_FALSE(IsValidResourceName("a?b"));
}

}  // namespace
}  // namespace dpd::config
