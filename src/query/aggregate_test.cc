#include "query/aggregate.h"

#include <gtest/gtest.h>

namespace dpd::query {
namespace {

Schema SalesSchema() {
  auto s = Schema::FromConfig(json::Parse(R"({"properties":{
    "kind":{"type":"string"},"n":{"type":"number"},"shop":{"type":"object"},"done":{"type":"boolean"},
    "password":{"type":"string"}}})")
                                  ->as_object());
  return std::move(*s);
}

Result<Pipeline> P(std::string_view text, QueryLimits limits = {}) {
  static const Schema schema = SalesSchema();
  ParseOptions options;
  options.forbidden_fields = {"password"};
  return ParsePipeline(json::Parse(text)->as_array(), schema, limits, options);
}

std::string Err(std::string_view text, QueryLimits limits = {}) {
  auto p = P(text, limits);
  return p.ok() ? "OK" : p.status().message();
}

TEST(AggregateTest, GroupByFieldWithEveryAccumulator) {
  auto p = P(R"([{"$match":{"done":true}},
                 {"$group":{"_id":"$kind","total":{"$sum":"$n"},"avg":{"$avg":"$n"},"lo":{"$min":"$n"},
                            "hi":{"$max":"$shop.city"},"docs":{"$count":{}},"ones":{"$sum":1}}},
                 {"$sort":{"total":-1,"_id":1}},{"$skip":1},{"$limit":5}])");
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->keys.size(), 1u);
  EXPECT_EQ(p->keys[0].path, "kind");
  EXPECT_FALSE(p->object_key);
  ASSERT_EQ(p->outputs.size(), 6u);
  EXPECT_EQ(p->outputs[0].kind, Accumulator::Kind::kSum);
  EXPECT_EQ(p->outputs[0].path, "n");
  EXPECT_EQ(p->outputs[3].path, "shop.city");
  EXPECT_EQ(p->outputs[4].kind, Accumulator::Kind::kCount);
  EXPECT_TRUE(p->outputs[5].path.empty());
  EXPECT_EQ(p->outputs[5].constant, 1);
  ASSERT_EQ(p->sort.size(), 2u);
  EXPECT_EQ(p->sort[0].path, "total");
  EXPECT_TRUE(p->sort[0].descending);
  EXPECT_EQ(p->skip, 1);
  EXPECT_EQ(p->limit, 5);
  EXPECT_EQ(p->max_groups, QueryLimits{}.aggregate_groups);
}

TEST(AggregateTest, NullAndObjectKeys) {
  auto all = P(R"([{"$group":{"_id":null,"c":{"$count":{}}}}])");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->keys.empty());
  auto obj = P(R"([{"$group":{"_id":{"k":"$kind","d":"$done"},"c":{"$count":{}}}},{"$sort":{"_id.d":-1}}])");
  ASSERT_TRUE(obj.ok()) << obj.status().message();
  EXPECT_TRUE(obj->object_key);
  ASSERT_EQ(obj->keys.size(), 2u);
  EXPECT_EQ(obj->keys[1].name, "d");
  EXPECT_EQ(obj->keys[1].path, "done");
}

TEST(AggregateTest, SkipThenLimitAndLimitThenSkipComposeAsMongoDB) {
  auto a = P(R"([{"$group":{"_id":"$kind"}},{"$limit":10},{"$skip":3}])");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->skip, 3);
  EXPECT_EQ(a->limit, 7);  // the first 10, less the 3 skipped
  auto b = P(R"([{"$group":{"_id":"$kind"}},{"$skip":3},{"$limit":10}])");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->skip, 3);
  EXPECT_EQ(b->limit, 10);
  auto c = P(R"([{"$group":{"_id":"$kind"}},{"$limit":2},{"$skip":5}])");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->limit, 0);
}

TEST(AggregateTest, EverythingOutsideTheAllowlistIs400) {
  EXPECT_EQ(Err("[]"), "An aggregation needs a $group stage");
  EXPECT_EQ(Err(R"([{"$match":{}}])"), "An aggregation needs a $group stage");
  EXPECT_EQ(Err(R"([{"$lookup":{"from":"users"}}])"),
            "Unsupported aggregation stage \"$lookup\" (dpd answers $match, $group, $sort, $skip and $limit)");
  EXPECT_EQ(Err(R"([{"$out":"x"}])"), Err(R"([{"$out":"x"}])"));
  EXPECT_NE(Err(R"([{"$out":"x"}])"), "OK");
  EXPECT_NE(Err(R"([{"$merge":"x"}])"), "OK");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind","x":{"$push":"$n"}}}])"),
            "Unsupported accumulator \"$push\" (dpd answers $sum, $avg, $min, $max and $count)");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind","x":{"$function":{}}}}])"),
            "Unsupported accumulator \"$function\" (dpd answers $sum, $avg, $min, $max and $count)");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$match":{}}])"), "$match can only be the first stage");
  EXPECT_EQ(Err(R"([{"$sort":{"n":1}},{"$group":{"_id":"$kind"}}])"), "$sort comes after the $group stage");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$group":{"_id":"$kind"}}])"), "An aggregation has one $group stage");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"},"$sort":{"n":1}}])"),
            "Each aggregation stage is an object with one key, as {\"$group\": {...}}");
  EXPECT_EQ(Err(R"([5])"), "Each aggregation stage is an object with one key, as {\"$group\": {...}}");
}

TEST(AggregateTest, FieldsMustBePropertiesAndNeverForbidden) {
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$nope"}}])"), "\"nope\" is not a property of this collection");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$password"}}])"), "\"password\" cannot be aggregated");
  EXPECT_EQ(Err(R"([{"$group":{"_id":null,"m":{"$max":"$password"}}}])"), "\"password\" cannot be aggregated");
  EXPECT_EQ(Err(R"([{"$match":{"password":"x"}},{"$group":{"_id":null}}])").find("password") != std::string::npos,
            true);
  EXPECT_EQ(Err(R"([{"$group":{"_id":"kind"}}])"), "$group _id takes a field as \"$name\"");
  EXPECT_EQ(Err(R"([{"$group":{"_id":5}}])"), "$group _id must be null, \"$field\" or an object of them");
  EXPECT_EQ(Err(R"([{"$group":{"c":{"$count":{}}}}])"), "$group needs an _id (null, \"$field\" or an object)");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$id"}}])"), "OK");
}

TEST(AggregateTest, OperandsAreChecked) {
  EXPECT_EQ(Err(R"([{"$group":{"_id":null,"c":{"$count":1}}}])"), "$count takes {}");
  EXPECT_EQ(Err(R"([{"$group":{"_id":null,"s":{"$sum":"n"}}}])"), "$sum takes \"$field\" or a number");
  EXPECT_EQ(Err(R"([{"$group":{"_id":null,"s":{"$sum":"$n","$avg":"$n"}}}])"),
            "$group output \"s\" takes one accumulator, as {\"$sum\": \"$price\"}");
  EXPECT_EQ(Err(R"([{"$group":{"_id":null,"$s":{"$sum":1}}}])"), "invalid $group output name \"$s\"");
  EXPECT_EQ(Err(R"([{"$group":{"_id":null,"a.b":{"$sum":1}}}])"), "invalid $group output name \"a.b\"");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$limit":0}])"), "$limit needs a positive integer");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$limit":1.5}])"), "$limit needs a positive integer");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$skip":-1}])"), "$skip needs a non-negative integer");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$sort":{"_id":2}}])"), "$sort directions are 1 or -1");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind","t":{"$sum":"$n"}}},{"$sort":{"n":1}}])"),
            "$sort names \"n\", which the $group does not make");
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$limit":3},{"$sort":{"_id":1}}])"),
            "$sort comes before $skip and $limit");
}

TEST(AggregateTest, LimitsAreEnforced) {
  QueryLimits limits;
  limits.aggregate_stages = 2;
  limits.aggregate_outputs = 2;
  EXPECT_EQ(Err(R"([{"$group":{"_id":"$kind"}},{"$skip":1},{"$limit":1}])", limits),
            "An aggregation has at most 2 stages");
  EXPECT_EQ(Err(R"([{"$group":{"_id":null,"a":{"$sum":1},"b":{"$sum":1},"c":{"$sum":1}}}])", limits),
            "$group has at most 2 outputs");
  EXPECT_EQ(Err(R"([{"$group":{"_id":{"a":"$kind","b":"$n","c":"$done"}}}])", limits),
            "$group _id has at most 2 fields");
  limits.aggregate_groups = 7;
  auto p = P(R"([{"$group":{"_id":"$kind"}}])", limits);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->max_groups, 7u);
  EXPECT_EQ(TooManyGroups(7).code(), Code::kBadRequest);
}

}  // namespace
}  // namespace dpd::query
