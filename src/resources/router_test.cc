#include "resources/router.h"

#include <gtest/gtest.h>

namespace dpd::resources {
namespace {

class Named : public Resource {
 public:
  using Resource::Resource;
  boost::asio::awaitable<Reply> Handle(Context&) override { co_return Reply::Next(); }
};

std::shared_ptr<Resource> R(std::string name) { return std::make_shared<Named>(std::move(name), "T"); }

std::string Describe(const Router& router, std::string_view path) {
  std::string out;
  for (const auto& m : router.Resolve(path)) {
    if (!out.empty()) out += " ";
    out += m.resource->path() + "=" + std::string(m.url);
  }
  return out;
}

TEST(RouterTest, LongestPrefixFirstRootLast) {
  Router router({R("todos"), R("somenamespace"), R("somenamespace/test"), R("users"), R("users/photos")}, R(""));
  EXPECT_EQ(Describe(router, "/todos"), "/todos=/ /=/todos");
  EXPECT_EQ(Describe(router, "/todos/"), "/todos=/ /=/todos/");
  EXPECT_EQ(Describe(router, "/todos/1234"), "/todos=/1234 /=/todos/1234");
  EXPECT_EQ(Describe(router, "/todos/x/y"), "/todos=/x/y /=/todos/x/y");
  EXPECT_EQ(Describe(router, "/somenamespace/test/1"),
            "/somenamespace/test=/1 /somenamespace=/test/1 /=/somenamespace/test/1");
  EXPECT_EQ(Describe(router, "/users/photos"), "/users/photos=/ /users=/photos /=/users/photos");
}

TEST(RouterTest, NoPartialOrCaseInsensitiveMatches) {
  Router router({R("todos")}, R(""));
  EXPECT_EQ(Describe(router, "/todosx"), "/=/todosx");
  EXPECT_EQ(Describe(router, "/Todos"), "/=/Todos");
  EXPECT_EQ(Describe(router, "//todos"), "/=//todos");
  EXPECT_EQ(Describe(router, "/%74odos"), "/=/%74odos");  // raw, not decoded
  EXPECT_EQ(Describe(router, ""), "/=");
}

TEST(RouterTest, WithoutRoot) {
  Router router({R("a/b")}, nullptr);
  EXPECT_EQ(Describe(router, "/a"), "");
  EXPECT_EQ(Describe(router, "/a/b/c"), "/a/b=/c");
}

}  // namespace
}  // namespace dpd::resources
