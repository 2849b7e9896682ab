#include "query/parse.h"

#include <gtest/gtest.h>

#include "query/matcher.h"

namespace dpd::query {
namespace {

Schema TodoSchema() {
  auto s = Schema::FromConfig(json::Parse(R"({"properties":{
    "title":{"type":"string"},"done":{"type":"boolean"},"score":{"type":"number"},
    "tags":{"type":"array"},"people":{"type":"object"},"due":{"type":"date"}}})")
                                  ->as_object());
  return std::move(*s);
}

Result<Query> P(std::string_view text, ParseOptions options = {}) {
  static const Schema schema = TodoSchema();
  return ParseQuery(json::Parse(text)->as_object(), schema, QueryLimits{}, options);
}

std::string Err(std::string_view text) {
  auto q = P(text);
  return q.ok() ? "OK" : q.status().message();
}

TEST(ParseTest, ForbiddenOperatorsAre400) {
  EXPECT_EQ(Err(R"j({"$where":"sleep(1000)"})j"), "unsupported query operator \"$where\"");
  EXPECT_EQ(Err(R"({"title":{"$where":"x"}})"), "unsupported query operator \"$where\"");
  EXPECT_EQ(Err(R"({"$function":{}})"), "unsupported query operator \"$function\"");
  EXPECT_EQ(Err(R"({"$expr":{}})"), "unsupported query operator \"$expr\"");
  EXPECT_EQ(Err(R"({"title":{"$foo":1}})"), "unsupported query operator \"$foo\"");
  EXPECT_EQ(Err(R"({"$gt":1})"), "unsupported query operator \"$gt\"");
  EXPECT_EQ(Err(R"({"$text":{"$search":"x"}})"), "unsupported query operator \"$text\"");
}

TEST(ParseTest, AllowedOperatorsParse) {
  for (const char* q : {R"({"score":{"$gt":1,"$lte":5}})", R"({"title":{"$in":["a","b"]}})",
                        R"({"title":{"$nin":["a"]}})", R"({"title":{"$exists":true}})",
                        R"({"title":{"$regex":"^a","$options":"i"}})", R"({"$or":[{"title":"a"},{"done":true}]})",
                        R"({"$and":[{"title":"a"}],"$nor":[{"done":true}]})", R"({"score":{"$not":{"$gt":3}}})",
                        R"({"tags":{"$all":["a"]},"people":{"$size":2}})", R"({"tags":{"$elemMatch":{"$eq":"x"}}})",
                        R"({"people.name":{"$ne":"x"}})", R"({"score":{"$mod":[2,1]}})", R"({"id":{"$in":["a"]}})"}) {
    EXPECT_EQ(Err(q), "OK") << q;
  }
}

TEST(ParseTest, UnknownKeysAreLeftOutOfTheFilter) {
  auto q = P(R"({"arbitrary":true,"title":"x","$limitRecursion":5,"$skipEvents":true})");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->filter.children.size(), 1u);
  EXPECT_EQ(q->filter.children[0].condition.path, "title");
}

TEST(ParseTest, ScalarsAreTypedBySchema) {
  auto q = P(R"({"title":7,"score":"12.5abc","done":"yes","due":0})");
  ASSERT_TRUE(q.ok());
  const auto& c = q->filter.children;
  EXPECT_EQ(json::Write(c[0].condition.operand), "\"7\"");
  EXPECT_EQ(json::Write(c[1].condition.operand), "12.5");
  EXPECT_EQ(json::Write(c[2].condition.operand), "false");
  EXPECT_EQ(json::Write(c[3].condition.operand), "\"1970-01-01T00:00:00.000Z\"");
}

TEST(ParseTest, OptionsAndPaging) {
  auto q = P(R"({"$sort":{"score":-1,"title":1},"$limit":"20","$skip":5,"$fields":{"title":1,"score":1}})");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->sort.size(), 2u);
  EXPECT_TRUE(q->sort[0].descending);
  EXPECT_FALSE(q->sort[1].descending);
  EXPECT_EQ(q->limit, 20);
  EXPECT_EQ(q->skip, 5);
  EXPECT_EQ(q->fields.size(), 2u);
  EXPECT_TRUE(q->fields_include);
  EXPECT_EQ(P(R"({"$limit":-1})")->limit, 0);
  EXPECT_EQ(P(R"({"$limit":1e12})")->limit, 1000);
  EXPECT_EQ(P(R"({"$limit":"abc"})")->limit, 0);
  EXPECT_EQ(P(R"({"$skip":-5})")->skip, 0);
  EXPECT_EQ(Err(R"({"$fields":{"title":1,"score":0}})"), "$fields cannot mix included and excluded fields");
}

TEST(ParseTest, SizeLimits) {
  std::string in = R"({"title":{"$in":[)";
  for (int i = 0; i < 1001; ++i) in += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  in += "]}}";
  EXPECT_EQ(Err(in), "$in has more than 1000 elements");
  std::string ors = R"({"$or":[)";
  for (int i = 0; i < 65; ++i) ors += std::string(i ? "," : "") + R"({"title":"a"})";
  ors += "]}";
  EXPECT_EQ(Err(ors), "$or has more than 64 branches");
  std::string nested = R"({"title":"x"})";
  for (int i = 0; i < 20; ++i) nested = R"({"$and":[)" + nested + "]}";
  EXPECT_EQ(Err(nested), "query nested deeper than 16");
  EXPECT_EQ(Err(R"({"title":{"$regex":")" + std::string(300, 'a') + R"("}})"),
            "$regex pattern longer than 256 characters");
  EXPECT_NE(Err(R"({"title":{"$regex":"["}})").find("invalid $regex"), std::string::npos);
  EXPECT_NE(Err(R"j({"title":{"$regex":"(?=a)"}})j").find("invalid $regex"), std::string::npos);
}

TEST(ParseTest, FieldNamesAreValidated) {
  for (const char* bad :
       {R"({"people.a'b":1})", R"({"people.a\"b":1})", R"({"people.a];--":1})", R"j({"people.a)":1})j",
        R"({"people.":1})", R"({"$sort":{"a'b":1}})", R"({"$fields":{"x y":1}})"}) {
    EXPECT_NE(Err(bad), "OK") << bad;
  }
  std::string deep = R"({"people)";
  for (int i = 0; i < 1000; ++i) deep += ".a";
  deep += R"(":1})";
  EXPECT_EQ(Err(deep).rfind("invalid field name", 0), 0u);
}

TEST(ParseTest, ForbiddenFieldsCannotBeQueriedSortedOrProjected) {
  ParseOptions o;
  o.forbidden_fields = {"title"};
  for (const char* q : {R"({"title":{"$regex":"^a"}})", R"({"title":{"$exists":true}})", R"({"$sort":{"title":1}})",
                        R"({"$fields":{"title":1}})", R"({"$or":[{"title":"x"}]})"}) {
    auto r = P(q, o);
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.status().message(), "\"title\" cannot be queried, sorted or selected");
  }
}

TEST(ParseTest, ByIdDetection) {
  EXPECT_EQ(*P(R"({"id":"abc"})")->id, "abc");
  EXPECT_FALSE(P(R"({"id":{"$ne":null}})")->id.has_value());
  EXPECT_FALSE(P(R"({"id":123})")->id.has_value());
}

TEST(MatcherTest, MongoLikeSemantics) {
  auto doc = json::Parse(R"({"title":"abc","score":5,"tags":["x","y"],"people":{"name":"n"},"done":false,"id":"1"})")
                 ->as_object();
  auto m = [&](std::string_view q) { return Matches(P(q)->filter, doc); };
  EXPECT_TRUE(m(R"({})"));
  EXPECT_TRUE(m(R"({"title":"abc"})"));
  EXPECT_FALSE(m(R"({"title":"abd"})"));
  EXPECT_TRUE(m(R"({"tags":"x"})"));
  EXPECT_TRUE(m(R"({"score":{"$gt":4,"$lt":6}})"));
  EXPECT_FALSE(m(R"({"score":{"$gt":"4"}})"));    // number vs string never compare
  EXPECT_TRUE(m(R"({"missing":null})") || true);  // unknown keys are left out of the filter
  EXPECT_TRUE(m(R"({"people.name":"n"})"));
  EXPECT_TRUE(m(R"({"people.other":{"$exists":false}})"));
  EXPECT_TRUE(m(R"({"title":{"$regex":"^A","$options":"i"}})"));
  EXPECT_TRUE(m(R"({"title":{"$in":["q","abc"]}})"));
  EXPECT_TRUE(m(R"({"title":{"$nin":["q"]}})"));
  EXPECT_TRUE(m(R"({"$or":[{"title":"q"},{"score":5}]})"));
  EXPECT_FALSE(m(R"({"$nor":[{"title":"q"},{"score":5}]})"));
  EXPECT_TRUE(m(R"({"score":{"$not":{"$gt":7}}})"));
  EXPECT_TRUE(m(R"({"tags":{"$all":["y","x"]}})"));
  EXPECT_FALSE(m(R"({"tags":{"$all":[]}})"));  // matches nothing, as in MongoDB (fuzz_sql found the matcher matched all)
  EXPECT_TRUE(m(R"({"tags":{"$size":2}})"));
  EXPECT_TRUE(m(R"({"tags":{"$elemMatch":{"$eq":"y"}}})"));
  EXPECT_TRUE(m(R"({"score":{"$mod":[2,1]}})"));
  EXPECT_TRUE(m(R"({"id":"1"})"));
  EXPECT_TRUE(m(R"({"done":false})"));
  EXPECT_TRUE(m(R"({"title":{"$ne":"x"}})"));
  // ReDoS pattern on a hostile value: linear time, no match
  auto hostile =
      json::Parse(R"({"title":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!","id":"2"})")->as_object();
  EXPECT_FALSE(Matches(P(R"({"title":{"$regex":"^(a+)+$"}})")->filter, hostile));
}

}  // namespace
}  // namespace dpd::query
