#include "resources/rules.h"

#include "query/parse.h"

namespace dpd::resources {
namespace {

constexpr std::string_view kMe = "$me.";
constexpr std::string_view kNow = "$now";

// A filter that matches no document (the parser refuses an empty $or; `id` in nothing is the same on every store).
json::object Nothing() { return json::object{{"id", json::object{{"$in", json::array()}}}}; }

struct Resolver {
  const std::optional<json::object>& me;
  double now_ms;

  // `v` with every "$me.x" / "$now" replaced; false when it names a field of $me the caller does not have.
  bool Value(json::value& v) const {
    if (v.is_string()) {
      std::string_view s = v.as_string();
      if (s == kNow) {
        v = now_ms;
        return true;
      }
      if (s.substr(0, kMe.size()) == kMe) {
        if (!me) return false;
        const json::value* field = me->if_contains(s.substr(kMe.size()));
        if (field == nullptr || field->is_null()) return false;
        v = *field;
      }
      return true;
    }
    if (json::array* a = v.if_array()) {
      for (auto& e : *a) {
        if (e.is_object()) {
          e = Filter(e.as_object());  // $or / $and / $nor branches, $elemMatch objects
        } else if (!Value(e)) {
          return false;
        }
      }
      return true;
    }
    if (json::object* o = v.if_object()) {
      for (auto& kv : *o) {
        if (!Value(kv.value())) return false;
      }
    }
    return true;
  }

  // A filter object: its keys are ANDed, so one condition the caller cannot meet makes the whole object match
  // nothing. A group ($or/$and/$nor) resolves branch by branch, each branch being a filter object of its own.
  json::object Filter(json::object o) const {
    for (auto& kv : o) {
      const std::string_view key = kv.key();
      if ((key == "$or" || key == "$and" || key == "$nor") && kv.value().is_array()) {
        for (auto& b : kv.value().as_array()) {
          if (b.is_object()) b = Filter(b.as_object());
        }
        continue;
      }
      if (!Value(kv.value())) return Nothing();
    }
    return o;
  }
};

bool UsesRegex(const json::value& v) {
  if (const json::object* o = v.if_object()) {
    for (const auto& kv : *o) {
      if (kv.key() == "$regex" || UsesRegex(kv.value())) return true;
    }
  } else if (const json::array* a = v.if_array()) {
    for (const auto& e : *a) {
      if (UsesRegex(e)) return true;
    }
  }
  return false;
}

// Every field a filter object names is `id` or a property of the schema (the query parser would silently leave
// an unknown one out — which in a rule would admit everything).
Status CheckFields(const json::object& o, const query::Schema& schema, const std::string& where) {
  for (const auto& kv : o) {
    const std::string_view key = kv.key();
    if (key == "$or" || key == "$and" || key == "$nor") {
      if (!kv.value().is_array()) return Status::BadRequest(where + ": " + std::string(key) + " needs an array");
      for (const auto& b : kv.value().as_array()) {
        if (!b.is_object()) return Status::BadRequest(where + ": " + std::string(key) + " branches must be objects");
        if (Status s = CheckFields(b.as_object(), schema, where); !s.ok()) return s;
      }
      continue;
    }
    if (!key.empty() && key[0] == '$') {
      return Status::BadRequest(where + ": unsupported operator \"" + std::string(key.substr(0, 64)) + "\"");
    }
    const std::string_view top = key.substr(0, key.find('.'));
    bool known = top == "id";
    for (const auto& p : schema.properties) known = known || p.name == top;
    if (!known) return Status::BadRequest(where + ": \"" + std::string(key) + "\" is not a property of the collection");
  }
  return Status::Ok();
}

}  // namespace

json::object ResolveRuleQuery(const json::object& rule, const std::optional<json::object>& me, double now_ms) {
  return Resolver{me, now_ms}.Filter(rule);
}

Result<AccessRules> AccessRules::FromConfig(const json::object& settings, const query::Schema& schema,
                                            const QueryLimits& limits) {
  AccessRules out;
  const json::value* raw = settings.if_contains("rules");
  if (raw == nullptr || raw->is_null()) return out;
  const json::object* rules = raw->if_object();
  if (rules == nullptr) return Status::BadRequest("\"rules\" must be an object of list/get/create/update/delete/count");
  for (const auto& kv : *rules) {
    std::size_t op = kRuleOpNames.size();
    for (std::size_t i = 0; i < kRuleOpNames.size(); ++i) {
      if (kv.key() == kRuleOpNames[i]) op = i;
    }
    const std::string where = "rules." + std::string(kv.key().substr(0, 64));
    if (op == kRuleOpNames.size()) {
      return Status::BadRequest(where + ": unknown operation (list, get, create, update, delete or count)");
    }
    Rule& r = out.rules_[op];
    const json::value& v = kv.value();
    if (v.is_string() && v.as_string() == "public") {
      r.kind = Rule::Kind::kPublic;
    } else if (v.is_string() && v.as_string() == "users") {
      r.kind = Rule::Kind::kUsers;
    } else if (v.is_string() && v.as_string() == "root") {
      r.kind = Rule::Kind::kRoot;
    } else if (v.is_object()) {
      if (UsesRegex(v)) return Status::BadRequest(where + ": $regex is not allowed in a rule");
      if (Status s = CheckFields(v.as_object(), schema, where); !s.ok()) return s;
      // It must parse as a query for a user with every field (a guest's form only narrows it).
      json::object probe = ResolveRuleQuery(v.as_object(), std::nullopt, 0);
      auto parsed = query::ParseQuery(v.as_object(), schema, limits);
      if (!parsed.ok()) return Status::BadRequest(where + ": " + parsed.status().message());
      if (!query::ParseQuery(probe, schema, limits).ok()) return Status::BadRequest(where + ": not a valid query");
      r.kind = Rule::Kind::kQuery;
      r.query = v.as_object();
    } else {
      return Status::BadRequest(where + ": must be \"public\", \"users\", \"root\" or a query object");
    }
    out.empty_ = false;
  }
  return out;
}

Result<Grant> AccessRules::For(RuleOp op, const Context& ctx, const query::Schema& schema, const QueryLimits& limits,
                               double now_ms) const {
  Grant g;
  if (ctx.is_root) return g;
  const Rule& r = rule(op);
  switch (r.kind) {
    case Rule::Kind::kUnset:
    case Rule::Kind::kPublic: return g;
    case Rule::Kind::kUsers:
      if (!ctx.me) g.kind = Grant::Kind::kNone;
      return g;
    case Rule::Kind::kRoot: g.kind = Grant::Kind::kNone; return g;
    case Rule::Kind::kQuery: {
      auto q = query::ParseQuery(ResolveRuleQuery(r.query, ctx.me, now_ms), schema, limits);
      if (!q.ok()) return q.status();
      g.kind = Grant::Kind::kMatching;
      g.filter = std::move(q->filter);
      return g;
    }
  }
  return g;
}

Reply RuleRefusal(const Context& ctx) {
  if (!ctx.me) return Reply::Error(401, "You must be logged in to do this", true);
  return Reply::Error(403, "Not allowed by this collection's rules", true);
}

}  // namespace dpd::resources
