// Access rules: what loads, what is refused at load, and what each kind of caller is granted.
#include "resources/rules.h"

#include <gtest/gtest.h>

#include "query/matcher.h"

namespace dpd::resources {
namespace {

json::object Settings(std::string_view rules) {
  json::value v = json::Parse(std::string(R"({"properties":{"owner":{"type":"string"},"public":{"type":"boolean"},)"
                                          R"("level":{"type":"number"}},"rules":)") +
                              std::string(rules) + "}")
                      .value();
  return v.as_object();
}

query::Schema SchemaOf(const json::object& settings) { return query::Schema::FromConfig(settings).value(); }

Result<AccessRules> Load(std::string_view rules) {
  json::object s = Settings(rules);
  return AccessRules::FromConfig(s, SchemaOf(s), QueryLimits{});
}

Context Guest() { return Context{}; }
Context User(std::string id, double level = 1) {
  Context c;
  c.me = json::object{{"id", std::move(id)}, {"username", "u"}, {"level", level}};
  return c;
}
Context Root() {
  Context c;
  c.is_root = true;
  return c;
}

Grant For(const AccessRules& r, RuleOp op, const Context& ctx) {
  json::object s = Settings("{}");
  return r.For(op, ctx, SchemaOf(s), QueryLimits{}, 1000).value();
}

bool Sees(const Grant& g, json::object doc) {
  if (g.kind != Grant::Kind::kMatching) return g.kind == Grant::Kind::kAll;
  return query::Matches(g.filter, doc);
}

TEST(AccessRulesTest, NoRulesIsDeploydBehaviour) {
  json::object s = json::Parse(R"({"properties":{}})").value().as_object();
  auto r = AccessRules::FromConfig(s, SchemaOf(s), QueryLimits{});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_EQ(For(*r, RuleOp::kList, Guest()).kind, Grant::Kind::kAll);
  EXPECT_EQ(For(*r, RuleOp::kDelete, Guest()).kind, Grant::Kind::kAll);
}

TEST(AccessRulesTest, KeywordRules) {
  auto r = Load(R"({"list":"public","create":"users","delete":"root"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(For(*r, RuleOp::kList, Guest()).kind, Grant::Kind::kAll);
  EXPECT_EQ(For(*r, RuleOp::kCreate, Guest()).kind, Grant::Kind::kNone);
  EXPECT_EQ(For(*r, RuleOp::kCreate, User("a")).kind, Grant::Kind::kAll);
  EXPECT_EQ(For(*r, RuleOp::kDelete, User("a")).kind, Grant::Kind::kNone);
  EXPECT_EQ(For(*r, RuleOp::kDelete, Root()).kind, Grant::Kind::kAll);
  EXPECT_EQ(For(*r, RuleOp::kUpdate, Guest()).kind, Grant::Kind::kAll) << "an operation without a rule is as today";
}

TEST(AccessRulesTest, OwnerRuleNamesTheCaller) {
  auto r = Load(R"({"list":{"$or":[{"public":true},{"owner":"$me.id"}]},"update":{"owner":"$me.id"}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const json::object mine{{"id", "1"}, {"owner", "a"}, {"public", false}};
  const json::object theirs{{"id", "2"}, {"owner", "b"}, {"public", false}};
  const json::object open{{"id", "3"}, {"owner", "b"}, {"public", true}};
  Grant a = For(*r, RuleOp::kList, User("a"));
  EXPECT_TRUE(Sees(a, mine));
  EXPECT_FALSE(Sees(a, theirs));
  EXPECT_TRUE(Sees(a, open));
  Grant guest = For(*r, RuleOp::kList, Guest());
  EXPECT_FALSE(Sees(guest, mine)) << "a guest owns nothing";
  EXPECT_TRUE(Sees(guest, open)) << "the other branch of the $or still admits public documents";
  Grant guest_update = For(*r, RuleOp::kUpdate, Guest());
  EXPECT_FALSE(Sees(guest_update, mine));
  EXPECT_FALSE(Sees(guest_update, json::object{{"id", "4"}})) << "a missing owner is not the guest's";
  EXPECT_TRUE(Sees(For(*r, RuleOp::kUpdate, Root()), theirs)) << "root passes every rule";
}

TEST(AccessRulesTest, MeFieldsAndNow) {
  auto r = Load(R"({"get":{"level":{"$lte":"$me.level"}},"list":{"level":{"$lt":"$now"}}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(Sees(For(*r, RuleOp::kGet, User("a", 5)), json::object{{"id", "1"}, {"level", 3}}));
  EXPECT_FALSE(Sees(For(*r, RuleOp::kGet, User("a", 2)), json::object{{"id", "1"}, {"level", 3}}));
  EXPECT_TRUE(Sees(For(*r, RuleOp::kList, Guest()), json::object{{"id", "1"}, {"level", 999}}));  // $now = 1000
  EXPECT_FALSE(Sees(For(*r, RuleOp::kList, Guest()), json::object{{"id", "1"}, {"level", 1001}}));
}

TEST(AccessRulesTest, RefusedAtLoad) {
  EXPECT_FALSE(Load(R"({"lsit":"public"})").ok()) << "unknown operation";
  EXPECT_FALSE(Load(R"({"list":"everyone"})").ok()) << "unknown keyword";
  EXPECT_FALSE(Load(R"({"list":{"ownr":"$me.id"}})").ok()) << "a misspelt property would admit everything";
  EXPECT_FALSE(Load(R"({"list":{"$or":[{"ownr":"$me.id"}]}})").ok()) << "also inside a group";
  EXPECT_FALSE(Load(R"({"list":{"$where":"1"}})").ok());
  EXPECT_FALSE(Load(R"({"list":{"owner":{"$regex":"^a"}}})").ok());
  EXPECT_FALSE(Load(R"({"list":{"$limit":1}})").ok());
  EXPECT_FALSE(Load(R"("public")").ok()) << "rules is an object";
  EXPECT_TRUE(Load(R"({"list":{"owner.name":"$me.username"}})").ok()) << "dotted paths into a property";
}

TEST(AccessRulesTest, RefusalIs401ForGuests403ForUsers) {
  EXPECT_EQ(RuleRefusal(Guest()).status, 401);
  EXPECT_EQ(RuleRefusal(User("a")).status, 403);
}

}  // namespace
}  // namespace dpd::resources
