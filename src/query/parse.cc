#include "query/parse.h"

#include <algorithm>
#include <cmath>

#include "query/js.h"
#include "query/regex.h"

namespace dpd::query {
namespace {

Status Bad(std::string message) { return Status::BadRequest(std::move(message)); }

bool IsScalar(const json::value& v) { return v.is_string() || v.is_null() || v.is_bool() || js::AsNumber(v); }

class Parser {
 public:
  Parser(const Schema& schema, const QueryLimits& limits, const ParseOptions& options)
      : schema_(schema), limits_(limits), options_(options) {}

  Status CheckPath(std::string_view path) const {
    if (!IsValidPath(path, limits_.max_path_length)) {
      return Bad("invalid field name \"" + std::string(path.substr(0, 64)) + "\"");
    }
    std::string_view first = path.substr(0, path.find('.'));
    for (const auto& f : options_.forbidden_fields) {
      if (first == f) return Bad("\"" + f + "\" cannot be queried, sorted or selected");
    }
    return Status::Ok();
  }

  // The schema property a path starts with, or nullptr.
  const Property* PropertyOf(std::string_view path) const { return schema_.Find(path.substr(0, path.find('.'))); }

  // §5.9 typing of a scalar by the property's type (only for the property itself, not dotted sub-paths).
  json::value Coerce(std::string_view path, const json::value& v) const {
    const Property* p = path.find('.') == std::string_view::npos ? schema_.Find(path) : nullptr;
    if (p == nullptr || !p->has_type) return v;
    switch (p->type) {
      case Type::kString:
        if (auto n = js::AsNumber(v)) return json::value(json::string(js::NumberToString(*n)));
        return v;
      case Type::kNumber:
        if (v.is_string()) {
          double d = js::ParseFloat(v.get_string());
          return std::isfinite(d) ? json::value(d) : json::value(nullptr);
        }
        return v;
      case Type::kBoolean:
        if (v.is_string()) return json::value(v.get_string() == "true");
        return v;
      case Type::kDate:
        if (v.is_string() || js::AsNumber(v)) {
          if (auto iso = ToIsoDate(v)) return json::value(json::string(*iso));
        }
        return v;
      default: return v;
    }
  }

  // A filter object: {"a": 1, "b": {"$gt": 2}, "$or": [...]}. `top` selects top-level rules.
  Status ParseFilter(const json::object& raw, bool top, std::size_t depth, Filter& out) {
    if (depth > limits_.max_nesting) return Bad("query nested deeper than " + std::to_string(limits_.max_nesting));
    out.kind = Filter::Kind::kAnd;
    for (const auto& kv : raw) {
      std::string_view key = kv.key();
      const json::value& v = kv.value();
      if (!key.empty() && key[0] == '$') {
        if (key == "$or" || key == "$and" || key == "$nor") {
          Filter group;
          group.kind = key == "$or" ? Filter::Kind::kOr : key == "$and" ? Filter::Kind::kAnd : Filter::Kind::kNor;
          const json::array* branches = v.if_array();
          if (branches == nullptr || branches->empty()) return Bad(std::string(key) + " needs a non-empty array");
          if (branches->size() > limits_.max_or_branches) {
            return Bad(std::string(key) + " has more than " + std::to_string(limits_.max_or_branches) + " branches");
          }
          for (const auto& b : *branches) {
            if (!b.is_object()) return Bad(std::string(key) + " branches must be objects");
            Filter child;
            if (Status s = ParseFilter(b.as_object(), false, depth + 1, child); !s.ok()) return s;
            group.children.push_back(std::move(child));
          }
          out.children.push_back(std::move(group));
          continue;
        }
        if (top && IsOption(key)) continue;  // handled by ParseQuery
        return Bad("unsupported query operator \"" + std::string(key.substr(0, 64)) + "\"");
      }
      std::string path(key);
      if (path != "id") {
        // Only schema properties and dotted paths into them reach the store; others stay for scripts.
        if (top && PropertyOf(path) == nullptr) continue;
      }
      if (Status s = CheckPath(path); !s.ok()) return s;
      if (const json::object* ops = v.if_object(); ops && HasOperator(*ops)) {
        if (Status s = ParseOperators(path, *ops, depth, false, out); !s.ok()) return s;
      } else {
        Condition c;
        c.path = path;
        c.op = Op::kEq;
        c.operand = IsScalar(v) ? Coerce(path, v) : v;
        AddCondition(out, std::move(c));
      }
    }
    return Status::Ok();
  }

  static bool IsOption(std::string_view key) {
    return key == "$fields" || key == "$sort" || key == "$orderby" || key == "$limit" || key == "$skip" ||
           key == "$limitRecursion" || key == "$skipEvents";
  }

  static bool HasOperator(const json::object& o) {
    for (const auto& kv : o) {
      if (!kv.key().empty() && kv.key()[0] == '$') return true;
    }
    return false;
  }

  void AddCondition(Filter& out, Condition c) const {
    if (c.path == "id") {
      c.array_aware = false;
    } else if (c.path.find('.') == std::string::npos) {
      const Property* p = schema_.Find(c.path);
      if (p && p->has_type && p->type != Type::kArray && p->type != Type::kObject) c.array_aware = false;
    }
    Filter f;
    f.kind = Filter::Kind::kCondition;
    f.condition = std::move(c);
    out.children.push_back(std::move(f));
  }

  Status ParseOperators(const std::string& path, const json::object& ops, std::size_t depth, bool negated,
                        Filter& out) {
    if (depth > limits_.max_nesting) return Bad("query nested deeper than " + std::to_string(limits_.max_nesting));
    const json::value* options = ops.if_contains("$options");
    for (const auto& kv : ops) {
      std::string_view op = kv.key();
      const json::value& arg = kv.value();
      if (op.empty() || op[0] != '$') return Bad("cannot mix operators and fields in the query on \"" + path + "\"");
      Condition c;
      c.path = path;
      c.negated = negated;
      c.operand = arg;
      if (op == "$options") {
        if (ops.if_contains("$regex") == nullptr) return Bad("$options needs $regex");
        continue;
      } else if (op == "$eq" || op == "$ne" || op == "$gt" || op == "$gte" || op == "$lt" || op == "$lte") {
        c.op = op == "$eq"    ? Op::kEq
               : op == "$ne"  ? Op::kNe
               : op == "$gt"  ? Op::kGt
               : op == "$gte" ? Op::kGte
               : op == "$lt"  ? Op::kLt
                              : Op::kLte;
        if (c.op != Op::kEq && c.op != Op::kNe && !(arg.is_string() || js::AsNumber(arg))) {
          return Bad(std::string(op) + " needs a number or a string");
        }
      } else if (op == "$in" || op == "$nin" || op == "$all") {
        c.op = op == "$in" ? Op::kIn : op == "$nin" ? Op::kNin : Op::kAll;
        const json::array* items = arg.if_array();
        if (items == nullptr) return Bad(std::string(op) + " needs an array");
        if (items->size() > limits_.max_in_elements) {
          return Bad(std::string(op) + " has more than " + std::to_string(limits_.max_in_elements) + " elements");
        }
        for (const auto& e : *items) {
          if (!IsScalar(e)) return Bad(std::string(op) + " elements must be strings, numbers, booleans or null");
        }
      } else if (op == "$exists") {
        c.op = Op::kExists;
        c.operand = js::Truthy(&arg);
      } else if (op == "$regex") {
        c.op = Op::kRegex;
        if (!arg.is_string()) return Bad("$regex needs a string");
        if (options != nullptr) {
          if (!options->is_string()) return Bad("$options needs a string");
          c.regex_options = std::string(options->as_string());
        }
        auto compiled = Regex::Compile(arg.as_string(), c.regex_options, limits_.max_regex_length,
                                       limits_.max_regex_program, limits_.max_regex_repeat);
        if (!compiled.ok()) return compiled.status();
      } else if (op == "$size") {
        c.op = Op::kSize;
        auto n = js::AsNumber(arg);
        if (!n || *n < 0 || *n != std::floor(*n)) return Bad("$size needs a non-negative integer");
      } else if (op == "$mod") {
        c.op = Op::kMod;
        const json::array* a = arg.if_array();
        if (a == nullptr || a->size() != 2 || !js::AsNumber((*a)[0]) || !js::AsNumber((*a)[1]) ||
            *js::AsNumber((*a)[0]) == 0) {
          return Bad("$mod needs [divisor, remainder] with a non-zero divisor");
        }
      } else if (op == "$elemMatch") {
        c.op = Op::kElemMatch;
        const json::object* sub = arg.if_object();
        if (sub == nullptr) return Bad("$elemMatch needs an object");
        auto elem = std::make_shared<Filter>();
        if (HasOperator(*sub) && !sub->empty() && sub->begin()->key()[0] == '$' && sub->begin()->key() != "$or" &&
            sub->begin()->key() != "$and" && sub->begin()->key() != "$nor") {
          if (Status s = ParseOperators("", *sub, depth + 1, false, *elem); !s.ok()) return s;
        } else {
          if (Status s = ParseElemFilter(*sub, depth + 1, *elem); !s.ok()) return s;
        }
        c.elem = std::move(elem);
      } else if (op == "$not") {
        if (negated) return Bad("$not cannot be nested");
        if (const json::object* inner = arg.if_object(); inner && HasOperator(*inner)) {
          if (Status s = ParseOperators(path, *inner, depth + 1, true, out); !s.ok()) return s;
          continue;
        }
        if (arg.is_string()) {
          c.op = Op::kRegex;
          c.negated = true;
          auto compiled = Regex::Compile(arg.as_string(), "", limits_.max_regex_length, limits_.max_regex_program,
                                         limits_.max_regex_repeat);
          if (!compiled.ok()) return compiled.status();
        } else {
          return Bad("$not needs an operator object");
        }
      } else {
        return Bad("unsupported query operator \"" + std::string(op.substr(0, 64)) + "\"");
      }
      AddCondition(out, std::move(c));
    }
    return Status::Ok();
  }

  // A filter on array elements: paths are relative to the element.
  Status ParseElemFilter(const json::object& raw, std::size_t depth, Filter& out) {
    out.kind = Filter::Kind::kAnd;
    for (const auto& kv : raw) {
      std::string_view key = kv.key();
      if (key.empty() || key[0] == '$') return Bad("unsupported operator in $elemMatch \"" + std::string(key) + "\"");
      std::string path(key);
      if (!IsValidPath(path, limits_.max_path_length)) return Bad("invalid field name in $elemMatch");
      if (const json::object* ops = kv.value().if_object(); ops && HasOperator(*ops)) {
        if (Status s = ParseOperators(path, *ops, depth, false, out); !s.ok()) return s;
      } else {
        Condition c;
        c.path = path;
        c.operand = kv.value();
        AddCondition(out, std::move(c));
      }
    }
    return Status::Ok();
  }

  Status ReadOptions(const json::object& raw, Query& q) {
    auto to_int = [](const json::value& v) -> std::optional<double> {
      if (auto n = js::AsNumber(v)) return std::isfinite(*n) ? std::optional<double>(std::trunc(*n)) : std::nullopt;
      if (v.is_string()) return js::ParseInt(v.get_string());
      return std::nullopt;
    };
    if (const json::value* v = raw.if_contains("$limit")) {
      if (auto n = to_int(*v); n && *n > 0) {
        q.limit = static_cast<std::int64_t>(std::min<double>(*n, static_cast<double>(limits_.max_limit)));
      }
    }
    if (const json::value* v = raw.if_contains("$skip")) {
      if (auto n = to_int(*v); n && *n > 0) q.skip = static_cast<std::int64_t>(std::min(*n, 9.0e15));
    }
    const json::value* sort = raw.if_contains("$sort");
    if (sort == nullptr) sort = raw.if_contains("$orderby");
    if (sort != nullptr && sort->is_object()) {
      for (const auto& kv : sort->as_object()) {
        std::string path(kv.key());
        if (Status s = CheckPath(path); !s.ok()) return s;
        auto dir = to_int(kv.value());
        q.sort.push_back({path, dir && *dir < 0});
      }
    }
    if (const json::value* f = raw.if_contains("$fields"); f && f->is_object()) {
      bool any_include = false, any_exclude = false;
      for (const auto& kv : f->as_object()) {
        std::string path(kv.key());
        if (Status s = CheckPath(path); !s.ok()) return s;
        bool include = js::Truthy(&kv.value());
        (include ? any_include : any_exclude) = true;
        if (path == "id") continue;  // id is always returned
        q.fields.push_back(path.substr(0, path.find('.')));
      }
      if (any_include && any_exclude) return Bad("$fields cannot mix included and excluded fields");
      q.fields_include = !any_exclude;
    }
    return Status::Ok();
  }

 private:
  const Schema& schema_;
  const QueryLimits& limits_;
  const ParseOptions& options_;
};

}  // namespace

bool IsValidPath(std::string_view path, std::size_t max_length) {
  if (path.empty() || path.size() > max_length) return false;
  std::size_t segments = 0, start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('.', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg.empty() || ++segments > 32) return false;
    for (char c : seg) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
                c == '-';
      if (!ok) return false;
    }
    if (seg[0] == '$') return false;
    start = end + 1;
  }
  return true;
}

Result<Query> ParseQuery(const json::object& raw, const Schema& schema, const QueryLimits& limits,
                         const ParseOptions& options) {
  Parser parser(schema, limits, options);
  Query q;
  if (Status s = parser.ParseFilter(raw, true, 0, q.filter); !s.ok()) return s;
  if (Status s = parser.ReadOptions(raw, q); !s.ok()) return s;
  if (const json::value* id = raw.if_contains("id"); id && id->is_string()) q.id = std::string(id->as_string());
  return q;
}

}  // namespace dpd::query
