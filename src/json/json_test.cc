#include "json/json.h"

#include <gtest/gtest.h>

namespace dpd::json {
namespace {

TEST(JsonTest, ParsesAndWritesCompact) {
  auto v = Parse(R"({ "a" : [1, 2, {"b": null}] })");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(Write(*v), R"({"a":[1,2,{"b":null}]})");
}

TEST(JsonTest, DuplicateKeysLastWins) {
  auto v = Parse(R"({"a":1,"a":2})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(Write(*v), R"({"a":2})");
}

TEST(JsonTest, DepthLimit) {
  JsonLimits limits;
  std::string ok(64, '['), ok_close(64, ']');
  EXPECT_TRUE(Parse(ok + ok_close, limits).ok());
  std::string bad(65, '['), bad_close(65, ']');
  auto r = Parse(bad + bad_close, limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().http_status(), 400);
  // 100,000 unclosed brackets: an error, not a stack overflow.
  EXPECT_FALSE(Parse(std::string(100'000, '['), limits).ok());
}

TEST(JsonTest, KeyAndElementLimits) {
  JsonLimits limits;
  limits.max_object_keys = 3;
  limits.max_array_elements = 4;
  EXPECT_TRUE(Parse(R"({"a":1,"b":2,"c":3})", limits).ok());
  EXPECT_FALSE(Parse(R"({"a":1,"b":2,"c":3,"d":4})", limits).ok());
  EXPECT_TRUE(Parse("[1,2,3,4]", limits).ok());
  EXPECT_FALSE(Parse("[1,2,3,4,5]", limits).ok());
  EXPECT_FALSE(Parse(R"({"x":{"y":[1,2,3,4,5]}})", limits).ok());
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* bad :
       {"{a:1}", R"({"a":1}garbage)", "", "NaN", "Infinity", "\"\\ud800\"", "\"\xff\"", "[1,]", "{\"a\"}"}) {
    EXPECT_FALSE(Parse(bad).ok()) << bad;
  }
}

TEST(JsonTest, ExtremeNumbers) {
  // Out-of-range numbers are refused (400) instead of becoming Infinity; -0 and big integers parse.
  EXPECT_FALSE(Parse("1e999999").ok());
  EXPECT_FALSE(Parse("-1e400").ok());
  auto neg_zero = Parse("-0");
  ASSERT_TRUE(neg_zero.ok());
  EXPECT_EQ(Write(*neg_zero), "0");
  auto big = Parse("18446744073709551616");
  ASSERT_TRUE(big.ok());
  EXPECT_TRUE(big->is_double());
  auto digits = Parse(std::string(400, '9'));
  EXPECT_FALSE(digits.ok());
}

}  // namespace
}  // namespace dpd::json

namespace dpd::json {
namespace {

TEST(JsonWriteTest, NumbersLikeJavaScript) {
  auto w = [](double d) { return Write(value(d)); };
  EXPECT_EQ(w(0.5), "0.5");
  EXPECT_EQ(w(-3), "-3");
  EXPECT_EQ(w(3.0), "3");
  EXPECT_EQ(w(-0.0), "0");
  EXPECT_EQ(w(1e21), "1e+21");
  EXPECT_EQ(w(1e20), "100000000000000000000");
  EXPECT_EQ(w(123.456), "123.456");
  EXPECT_EQ(w(0.000001), "0.000001");
  EXPECT_EQ(w(1e-7), "1e-7");
  EXPECT_EQ(w(1.5e-7), "1.5e-7");
  EXPECT_EQ(w(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(w(std::nan("")), "null");
  EXPECT_EQ(w(HUGE_VAL), "null");
  EXPECT_EQ(Write(value(std::int64_t{-42})), "-42");
}

TEST(JsonWriteTest, StringsLikeJavaScript) {
  EXPECT_EQ(Write(value("a\"b\\c\n\x01/\xE2\x9C\x93")), "\"a\\\"b\\\\c\\n\\u0001/\xE2\x9C\x93\"");
}

TEST(JsonWriteTest, PrettyLikeJsonStringifyWithTabs) {
  auto v =
      Parse(R"({"type":"Collection","properties":{"t":{"type":"string","order":0}},"tags":[1,"a"],"e":{},"f":[]})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(WritePretty(*v),
            "{\n\t\"type\": \"Collection\",\n\t\"properties\": {\n\t\t\"t\": {\n\t\t\t\"type\": \"string\",\n"
            "\t\t\t\"order\": 0\n\t\t}\n\t},\n\t\"tags\": [\n\t\t1,\n\t\t\"a\"\n\t],\n\t\"e\": {},\n\t\"f\": []\n}");
  EXPECT_EQ(WritePretty(json::value(1.5)), "1.5");
  EXPECT_EQ(WritePretty(*Parse(R"({"a":1})"), "  "), "{\n  \"a\": 1\n}");
}

}  // namespace
}  // namespace dpd::json
