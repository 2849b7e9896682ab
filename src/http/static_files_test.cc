#include "http/static_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace dpd::http {
namespace {
namespace fs = std::filesystem;

class StaticTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("dpd_static_" + std::to_string(::getpid()));
    fs::remove_all(base_);
    pub_ = base_ / "public";
    fs::create_directories(pub_ / "sub");
    std::ofstream(pub_ / "index.html") << "<h1>hi</h1>";
    std::ofstream(pub_ / "app.js") << "0123456789";
    std::ofstream(pub_ / "sub" / "index.html") << "sub";
    std::ofstream(pub_ / ".secret") << "x";
    std::ofstream(pub_ / "large.bin") << std::string(200 * 1024, 'L');
    fs::create_symlink("app.js", pub_ / "inside-link.js");
    std::ofstream(base_ / "outside.txt") << "secret";
    fs::create_symlink(base_ / "outside.txt", pub_ / "link.txt");
    fs::create_directory_symlink("/etc", pub_ / "etc");
  }
  void TearDown() override { fs::remove_all(base_); }
  std::optional<Response> Get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {},
                              std::string method = "GET") {
    Request r;
    r.method = method;
    r.target = path;
    r.headers = std::move(headers);
    return StaticRoot(pub_).Serve(r, method, path);
  }
  fs::path base_, pub_;
};

TEST_F(StaticTest, ServesFilesAndIndexes) {
  auto root = Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_EQ(root->body, "<h1>hi</h1>");
  EXPECT_EQ(*root->Get("Content-Type"), "text/html; charset=UTF-8");
  auto js = Get("/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->body, "0123456789");
  EXPECT_FALSE(js->file);
  EXPECT_EQ(*js->Get("Cache-Control"), "public, max-age=0");
  EXPECT_EQ(js->Get("ETag")->rfind("W/\"", 0), 0u);
  auto dir = Get("/sub");
  ASSERT_TRUE(dir);
  EXPECT_EQ(dir->status, 301);
  EXPECT_EQ(*dir->Get("Location"), "/sub/");
  auto head = Get("/app.js", {}, "HEAD");
  ASSERT_TRUE(head);
  EXPECT_TRUE(head->head);
  EXPECT_FALSE(Get("/app.js", {}, "POST"));
}

TEST_F(StaticTest, RefusesEscapes) {
  for (const char* p :
       {"/../outside.txt", "/%2e%2e/outside.txt", "/..%2foutside.txt", "/%252e%252e/x", "/%c0%ae%c0%ae/outside.txt",
        "/link.txt", "/etc/passwd", "/.secret", "/%00", "/sub/../../outside.txt", "/missing"}) {
    EXPECT_FALSE(Get(p)) << p;
  }
}

TEST_F(StaticTest, LargeFilesAreOpenHandles) {
  auto big = Get("/large.bin");
  ASSERT_TRUE(big);
  ASSERT_TRUE(big->file);
  EXPECT_EQ(big->file->length, 200u * 1024);
  EXPECT_GE(big->file->file->fd(), 0);
  auto tail = Get("/large.bin", {{"range", "bytes=-100"}});
  EXPECT_EQ(tail->body, std::string(100, 'L'));
}

TEST_F(StaticTest, SymlinksInsideAreFollowed) {
  auto r = Get("/inside-link.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "0123456789");
}

TEST_F(StaticTest, MissingFolderServesNothing) {
  Request r;
  r.method = "GET";
  r.target = "/";
  EXPECT_FALSE(StaticRoot(base_ / "nope").Serve(r, "GET", "/"));
}

TEST_F(StaticTest, ConditionalAndRanges) {
  auto first = Get("/app.js");
  std::string etag = *first->Get("ETag");
  EXPECT_EQ(Get("/app.js", {{"if-none-match", etag}})->status, 304);
  EXPECT_EQ(Get("/app.js", {{"if-modified-since", *first->Get("Last-Modified")}})->status, 304);
  EXPECT_EQ(Get("/app.js", {{"if-modified-since", "garbage"}})->status, 200);
  auto part = Get("/app.js", {{"range", "bytes=2-4"}});
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, "234");
  EXPECT_EQ(*part->Get("Content-Range"), "bytes 2-4/10");
  auto suffix = Get("/app.js", {{"range", "bytes=-3"}});
  EXPECT_EQ(suffix->body, "789");
  EXPECT_EQ(Get("/app.js", {{"range", "bytes=20-"}})->status, 416);
  std::string many = "bytes=0-0";
  for (int i = 0; i < 10000; ++i) many += ",0-0";
  EXPECT_EQ(Get("/app.js", {{"range", many}})->status, 200);
  EXPECT_EQ(Get("/app.js", {{"range", "bytes=abc"}})->status, 200);
}

}  // namespace
}  // namespace dpd::http
