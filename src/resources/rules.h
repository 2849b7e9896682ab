#pragma once
// Access rules (docs/rules.md): a collection's config.json may say, per operation, who may do it —
//   "rules": {"list": …, "get": …, "create": …, "update": …, "delete": …, "count": …}
// each "public", "users" (any logged-in user), "root", or a Deployd query that may name the caller ("$me.id",
// "$me.<field>") and the time ("$now", ms since the epoch). Root passes every rule. An operation without a rule
// behaves as Deployd (everything public, count root only), so an app without the key is unchanged.
//
// Reads merge the rule's filter into the query; writes check the document before (update, delete) and after
// (create, update) inside the store's write, so no race can carry a document out of its owner's reach.
//
// Values; safe to share read-only.

#include <array>
#include <optional>
#include <string>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"
#include "query/ast.h"
#include "query/schema.h"
#include "resources/resource.h"

namespace dpd::resources {

enum class RuleOp { kList, kGet, kCreate, kUpdate, kDelete, kCount };
inline constexpr std::array<const char*, 6> kRuleOpNames = {"list", "get", "create", "update", "delete", "count"};

struct Rule {
  enum class Kind { kUnset, kPublic, kUsers, kRoot, kQuery };
  Kind kind = Kind::kUnset;
  json::object query;  // kQuery: the rule as written
};

// What a rule lets one caller do.
struct Grant {
  enum class Kind { kAll, kNone, kMatching };
  Kind kind = Kind::kAll;
  query::Filter filter;  // kMatching: the documents the caller may touch
};

class AccessRules {
 public:
  // The "rules" key of a collection's settings (absent: no rules). A rule naming an unknown property, an operator
  // outside the query language, $regex, or an unknown operation is an error naming it: a rule never silently
  // admits more than it says.
  static Result<AccessRules> FromConfig(const json::object& settings, const query::Schema& schema,
                                        const QueryLimits& limits);

  bool empty() const { return empty_; }
  const Rule& rule(RuleOp op) const { return rules_[static_cast<std::size_t>(op)]; }

  // The grant of `op` for the caller of `ctx`; an unset rule is kAll (count: root only, which Collection keeps as
  // Deployd answers it). `now_ms` is what "$now" means.
  Result<Grant> For(RuleOp op, const Context& ctx, const query::Schema& schema, const QueryLimits& limits,
                    double now_ms) const;

 private:
  std::array<Rule, 6> rules_;
  bool empty_ = true;
};

// The rule's query with "$me.<field>" and "$now" replaced for this caller. A condition naming a field of "$me"
// the caller does not have (a guest, or a user without that field) becomes one that matches nothing.
json::object ResolveRuleQuery(const json::object& rule, const std::optional<json::object>& me, double now_ms);

// How a refused operation answers: as Deployd's cancel() would — 401 for a guest, 403 for a logged-in user.
Reply RuleRefusal(const Context& ctx);

}  // namespace dpd::resources
