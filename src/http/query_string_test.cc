#include "http/query_string.h"

#include <gtest/gtest.h>

namespace dpd::http {
namespace {

std::string Q(std::string_view raw) {
  auto r = ParseQueryString(raw);
  if (!r.ok()) return "ERR " + r.status().message();
  return json::Write(*r);
}

TEST(QueryStringTest, JsonForm) {
  EXPECT_EQ(Q("%7B%22title%22%3A%7B%22%24ne%22%3A%22x%22%7D%7D"), R"({"title":{"$ne":"x"}})");
  EXPECT_EQ(Q(R"({"a":1})"), R"({"a":1})");
  EXPECT_EQ(Q("%7Bbad%7D").rfind("ERR Failed to parse querystring: SyntaxError", 0), 0u);
}

TEST(QueryStringTest, FormWithBracketsAndCoercion) {
  EXPECT_EQ(Q("a=1&b=x&c=007&d=-3&e=.5&f=1e5&g=1.&h=true"),
            R"({"a":1,"b":"x","c":7,"d":-3,"e":0.5,"f":"1e5","g":"1.","h":"true"})");
  EXPECT_EQ(Q("$sort[title]=-1&a[b][c]=x"), R"({"$sort":{"title":-1},"a":{"b":{"c":"x"}}})");
  EXPECT_EQ(Q("tags[]=a&tags[]=b"), R"({"tags":{"0":"a","1":"b"}})");
  EXPECT_EQ(Q("a=1&a=2"), R"({"a":{"0":1,"1":2}})");
  EXPECT_EQ(Q("big=9007199254740993"), R"({"big":"9007199254740993"})");
  EXPECT_EQ(Q("q=a+b%20c"), R"({"q":"a b c"})");
  EXPECT_EQ(Q("__proto__[x]=1&ok=1"), R"({"ok":1})");
}

TEST(QueryStringTest, JsonArrayIsAPipeline) {
  EXPECT_EQ(Q("%5B%7B%22%24group%22%3A%7B%22_id%22%3Anull%7D%7D%5D"), R"({"pipeline":[{"$group":{"_id":null}}]})");
  EXPECT_EQ(Q("[]"), R"({"pipeline":[]})");
  EXPECT_EQ(Q("%5Bbad%5D").rfind("ERR Failed to parse querystring: SyntaxError", 0), 0u);
}

TEST(QueryStringTest, JsonQueryParameter) { EXPECT_EQ(Q("_jsonquery=%7B%22a%22%3A%5B1%2C2%5D%7D"), R"({"a":[1,2]})"); }

TEST(QueryStringTest, MalformedEscapes) {
  EXPECT_EQ(Q("a=%"), "ERR Failed to parse querystring: URIError: URI malformed");
  EXPECT_EQ(Q("a=%c0%ae"), "ERR Failed to parse querystring: URIError: URI malformed");
}

TEST(QueryStringTest, DeepBracketsStayBounded) {
  std::string key = "a";
  for (int i = 0; i < 1000; ++i) key += "[x]";
  auto r = ParseQueryString(key + "=1");
  ASSERT_TRUE(r.ok());
  // depth is capped: the remainder becomes one literal key
  std::string text = json::Write(*r);
  EXPECT_LT(std::count(text.begin(), text.end(), '{'), 10);
}

// ParsesBody names exactly the media types ParseBody parses: the others (uploads) may go to disk unread.
TEST(BodyTest, ParsesBodyAgreesWithParseBody) {
  EXPECT_TRUE(ParsesBody(nullptr));
  for (std::string ct : {"application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/octet-stream", "text/plain", "APPLICATION/JSON"}) {
    auto parsed = ParseBody(&ct, "a=1");
    const bool parses = !parsed.ok() || parsed->has_value();
    EXPECT_EQ(ParsesBody(&ct), parses) << ct;
  }
}

TEST(BodyTest, DeploydRules) {
  std::string json_ct = "application/json; charset=utf-8";
  auto empty = ParseBody(&json_ct, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(json::Write(**empty), "{}");
  auto none = ParseBody(nullptr, R"({"a":1})");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(json::Write(**none), R"({"a":1})");
  auto ws = ParseBody(&json_ct, R"( {"a":1})");
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().message(), "Could not parse invalid JSON");
  auto bom = ParseBody(&json_ct, "\xEF\xBB\xBF{}");
  EXPECT_EQ(bom.status().message(), "Could not parse invalid JSON");
  auto bad = ParseBody(&json_ct, "{a:1}");
  EXPECT_EQ(bad.status().message(), "Failed to parse body as application/json");
  auto garbage = ParseBody(&json_ct, R"({"a":1}garbage)");
  EXPECT_EQ(garbage.status().message(), "Failed to parse body as application/json");
  std::string form_ct = "application/x-www-form-urlencoded";
  auto form = ParseBody(&form_ct, "a=1&b[c]=x");
  ASSERT_TRUE(form.ok());
  EXPECT_EQ(json::Write(**form), R"({"a":"1","b":{"c":"x"}})");
  EXPECT_EQ(ParseBody(&form_ct, "a=%zz").status().message(),
            "Failed to parse body as application/x-www-form-urlencoded");
  std::string text_ct = "text/plain";
  auto text = ParseBody(&text_ct, R"({"a":1})");
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->has_value());
}

}  // namespace
}  // namespace dpd::http
