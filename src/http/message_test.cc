#include "http/message.h"

#include <gtest/gtest.h>

namespace dpd::http {
namespace {

TEST(MessageTest, PathAndQuery) {
  Request r;
  r.target = "/todos/1?a=b?c";
  EXPECT_EQ(r.path(), "/todos/1");
  EXPECT_EQ(r.query(), "a=b?c");
  EXPECT_TRUE(r.has_query());
  r.target = "/x";
  EXPECT_EQ(r.query(), "");
  EXPECT_FALSE(r.has_query());
}

TEST(MessageTest, PercentDecode) {
  EXPECT_EQ(*PercentDecode("a%20b+c"), "a b+c");
  EXPECT_EQ(*PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(*PercentDecode("%E2%9C%93"), "\xE2\x9C\x93");
  EXPECT_FALSE(PercentDecode("%"));
  EXPECT_FALSE(PercentDecode("%4"));
  EXPECT_FALSE(PercentDecode("%zz"));
  EXPECT_FALSE(PercentDecode("%c0%ae"));     // overlong '.'
  EXPECT_FALSE(PercentDecode("%ed%a0%80"));  // surrogate
  EXPECT_FALSE(PercentDecode("%ff"));
}

TEST(MessageTest, Cookies) {
  EXPECT_EQ(*CookieValue("a=1; sid=xyz; DpdSshKey=k", "sid"), "xyz");
  EXPECT_EQ(*CookieValue("DpdSshKey=k", "DpdSshKey"), "k");
  EXPECT_FALSE(CookieValue("a=1; xsid=2", "sid"));
  EXPECT_FALSE(CookieValue("", "sid"));
}

TEST(MessageTest, ResponseHeadersCaseInsensitive) {
  Response r;
  r.Set("Content-Type", "a");
  r.Set("content-type", "b");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(*r.Get("CONTENT-TYPE"), "b");
  EXPECT_EQ(r.Get("x"), nullptr);
}

}  // namespace
}  // namespace dpd::http
