#include "query/schema.h"

#include <gtest/gtest.h>

#include "query/update.h"

namespace dpd::query {
namespace {

Schema S(std::string_view props) {
  return std::move(
      *Schema::FromConfig(json::Parse(std::string(R"({"properties":)") + std::string(props) + "}")->as_object()));
}

std::string San(const Schema& s, std::string_view body) {
  return json::Write(Sanitize(s, json::Parse(body)->as_object()));
}

TEST(SchemaTest, SanitiseByType) {
  Schema s = S(R"({"title":{"type":"string"},"n":{"type":"number"},"b":{"type":"boolean"},"d":{"type":"date"},
                  "o":{"type":"object"},"a":{"type":"array"},"untyped":{}})");
  EXPECT_EQ(San(s, R"({"title":7,"n":"12.5abc","b":"true","d":0,"o":[1],"a":null,"untyped":1,"x":1,"id":"z"})"),
            R"({"title":"7","n":12.5,"d":"1970-01-01T00:00:00.000Z","o":[1],"a":null})");
  EXPECT_EQ(San(s, R"({"n":"C","title":{"a":1},"b":true,"a":{"0":1}})"), R"({"n":null,"b":true})");
  EXPECT_EQ(San(s, R"({"d":"2016-09-09T09:09:09.09Z"})"), R"({"d":"2016-09-09T09:09:09.090Z"})");
  EXPECT_EQ(San(s, R"({"d":"not a date"})"), R"({"d":"not a date"})");
}

TEST(SchemaTest, ValidateMessagesAndBooleanDefaults) {
  Schema s = S(R"({"title":{"type":"string","required":true},"age":{"type":"number","required":true},
                  "created":{"type":"date"},"o":{"type":"object"},"a":{"type":"array"},"done":{"type":"boolean"},
                  "req":{"type":"boolean","required":true}})");
  auto doc = json::Parse(R"({"title":5,"created":"nope","o":[1],"a":{"x":1},"req":false})")->as_object();
  auto errors = Validate(s, doc, true);
  EXPECT_EQ(json::Write(errors), R"({"title":"must be a string","age":"is required","created":"must be a date",)"
                                 R"("o":"must be a object","a":"must be a array","req":"is required"})");
  EXPECT_EQ(json::Write(doc.at("done")), "false");
  // update rules: a required property absent from the document is not enforced
  auto old = json::Parse(R"({"title":"x","req":true})")->as_object();
  EXPECT_EQ(json::Write(Validate(s, old, false)), "{}");
  auto zero = json::Parse(R"({"title":"x","age":0,"req":true})")->as_object();
  EXPECT_EQ(json::Write(Validate(s, zero, true)), "{}");  // 0 exists
}

TEST(SchemaTest, BadPropertyNamesAreRefused) {
  EXPECT_FALSE(Schema::FromConfig(json::Parse(R"({"properties":{"a'b":{"type":"string"}}})")->as_object()).ok());
  EXPECT_FALSE(Schema::FromConfig(json::Parse(R"({"properties":{"id":{"type":"string"}}})")->as_object()).ok());
  EXPECT_TRUE(Schema::FromConfig(json::Parse(R"({"type":"Collection"})")->as_object()).ok());
}

TEST(UpdateTest, Commands) {
  auto doc = json::Parse(R"({"n":"8","tags":["a","b","a"],"list":5})")->as_object();
  auto body = json::Parse(R"({"n":{"$inc":"-9"},"m":{"$inc":2},"tags":{"$addUnique":["c","a"]},
                              "list":{"$push":1},"p":{"$pushAll":[1,2]},"q":{"$set":1}})")
                  ->as_object();
  ApplyCommands(ExtractCommands(body), doc);
  EXPECT_EQ(json::Write(doc), R"({"n":-1,"tags":["a","b","c"],"list":[1],"m":2,"p":[1,2]})");
  auto d2 = json::Parse(R"({"tags":["a","b","a",{"x":1}]})")->as_object();
  ApplyCommands(ExtractCommands(json::Parse(R"({"tags":{"$pull":"a"}})")->as_object()), d2);
  EXPECT_EQ(json::Write(d2), R"({"tags":["b",{"x":1}]})");
  ApplyCommands(ExtractCommands(json::Parse(R"({"tags":{"$pullAll":["b"]}})")->as_object()), d2);
  EXPECT_EQ(json::Write(d2), R"({"tags":[{"x":1}]})");
}

}  // namespace
}  // namespace dpd::query
