#include "store/sqlite/sql_builder.h"

#include "query/js.h"
#include "query/parse.h"

namespace dpd::store::sqlite {
namespace {

constexpr std::size_t kMaxPath = 1024;

// Where a condition's value lives: the document column, or an element row of json_each inside $elemMatch.
struct Base {
  std::string json;   // "doc" or "je1.value"
  std::string alias;  // "" for the document, "je1" for an element
};

class Builder {
 public:
  Sql sql;

  Status Filter(const query::Filter& f, const Base& base, std::string& out) {
    using Kind = query::Filter::Kind;
    if (f.kind == Kind::kCondition) return Condition(f.condition, base, out);
    if (f.children.empty()) {
      out += f.kind == Kind::kOr ? "0" : "1";  // empty $or matches nothing; empty $and/$nor everything
      return Status::Ok();
    }
    const char* joiner = f.kind == Kind::kOr ? " OR " : " AND ";
    if (f.kind == Kind::kNor) out += "NOT (";
    out += "(";
    for (std::size_t i = 0; i < f.children.size(); ++i) {
      if (i) out += f.kind == Kind::kNor ? " OR " : joiner;
      std::string part;
      if (Status s = Filter(f.children[i], base, part); !s.ok()) return s;
      out += f.kind == Kind::kNor ? "IFNULL(" + part + ",0)" : part;
    }
    out += ")";
    if (f.kind == Kind::kNor) out += ")";
    return Status::Ok();
  }

 private:
  int next_alias_ = 0;

  std::string Param(json::value v) {
    sql.params.push_back(std::move(v));
    return "?";
  }

  // Value and JSON-type expressions for `path` relative to `base`.
  Status Exprs(std::string_view path, const Base& base, std::string& value, std::string& type) {
    if (base.alias.empty() && path == "id") {
      value = "id";
      type = "'text'";
      return Status::Ok();
    }
    if (path.empty()) {
      value = base.alias + ".value";
      type = base.alias + ".type";
      return Status::Ok();
    }
    auto jp = JsonPath(path);
    if (!jp.ok()) return jp.status();
    if (base.alias.empty()) {
      value = "json_extract(doc,'" + *jp + "')";
      type = "json_type(doc,'" + *jp + "')";
    } else {
      // Element rows may be scalars, which are not JSON text: only objects are looked into.
      value = "(CASE WHEN " + base.alias + ".type='object' THEN json_extract(" + base.json + ",'" + *jp + "') END)";
      type = "(CASE WHEN " + base.alias + ".type='object' THEN json_type(" + base.json + ",'" + *jp + "') END)";
    }
    return Status::Ok();
  }

 public:
  static Result<std::string> JsonPath(std::string_view path) {
    if (!query::IsValidPath(path, kMaxPath)) return Status::Internal("invalid field path reached the store");
    std::string out = "$";
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t end = path.find('.', start);
      if (end == std::string_view::npos) end = path.size();
      out += ".\"";
      out.append(path.substr(start, end - start));
      out += "\"";
      start = end + 1;
    }
    return out;
  }

 private:
  // The test of one scalar operand against (value, type).
  std::string ScalarEq(const std::string& value, const std::string& type, const json::value& operand) {
    if (operand.is_null()) return "(" + value + " IS NULL)";
    if (operand.is_bool()) return "(" + type + (operand.get_bool() ? "='true')" : "='false')");
    if (query::js::AsNumber(operand))
      return "(" + type + " IN ('integer','real') AND " + value + "=" + Param(operand) + ")";
    if (operand.is_string()) return "(" + type + "='text' AND " + value + "=" + Param(operand) + ")";
    // objects/arrays: compare canonical JSON text
    return "(" + type + " IN ('object','array') AND " + value + "=json(" +
           Param(json::value(json::string(json::Write(operand)))) + "))";
  }

  std::string Range(const std::string& value, const std::string& type, query::Op op, const json::value& operand) {
    const char* sym = op == query::Op::kGt ? ">" : op == query::Op::kGte ? ">=" : op == query::Op::kLt ? "<" : "<=";
    std::string guard = query::js::AsNumber(operand) ? type + " IN ('integer','real')" : type + "='text'";
    return "(" + guard + " AND " + value + sym + Param(operand) + ")";
  }

  std::string InList(const std::string& value, const std::string& type, const json::array& items) {
    std::vector<std::string> parts;
    std::string strings, numbers;
    for (const auto& e : items) {
      if (e.is_string()) {
        strings += (strings.empty() ? "" : ",") + Param(e);
      } else if (query::js::AsNumber(e)) {
        numbers += (numbers.empty() ? "" : ",") + Param(e);
      } else {
        parts.push_back(ScalarEq(value, type, e));
      }
    }
    if (!strings.empty()) parts.push_back("(" + type + "='text' AND " + value + " IN (" + strings + "))");
    if (!numbers.empty())
      parts.push_back("(" + type + " IN ('integer','real') AND " + value + " IN (" + numbers + "))");
    if (parts.empty()) return "0";
    std::string out = "(";
    for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? " OR " : "") + parts[i];
    return out + ")";
  }

  // EXISTS over the array at `path` with `element_test` built on the element alias.
  template <typename Fn>
  Status AnyElement(std::string_view path, const Base& base, const std::string& type, Fn element_test,
                    std::string& out) {
    auto jp = JsonPath(path);
    if (!jp.ok()) return jp.status();
    std::string alias = "je" + std::to_string(++next_alias_);
    std::string test;
    if (Status s = element_test(alias + ".value", alias + ".type", alias, test); !s.ok()) return s;
    out = "(" + type + "='array' AND EXISTS(SELECT 1 FROM json_each(" + base.json + ",'" + *jp + "') AS " + alias +
          " WHERE " + test + "))";
    return Status::Ok();
  }

  Status Condition(const query::Condition& c, const Base& base, std::string& out) {
    using query::Op;
    std::string value, type;
    if (Status s = Exprs(c.path, base, value, type); !s.ok()) return s;
    // Equality-like tests also match an element of an array (MongoDB semantics), except where the value can never
    // be an array, and never inside $elemMatch (elements are not looked into twice).
    const bool array_branch = c.array_aware && base.alias.empty() && !c.path.empty() && c.path != "id";
    auto with_array = [&](std::string direct, auto element_test) -> Status {
      if (!array_branch) {
        out = std::move(direct);
        return Status::Ok();
      }
      std::string any;
      auto fn = [&](const std::string& ev, const std::string& et, const std::string&, std::string& t) {
        t = element_test(ev, et);
        return Status::Ok();
      };
      if (Status s = AnyElement(c.path, base, type, fn, any); !s.ok()) return s;
      out = "(" + direct + " OR " + any + ")";
      return Status::Ok();
    };
    Status s;
    switch (c.op) {
      case Op::kEq:
      case Op::kNe: {
        s = with_array(ScalarEq(value, type, c.operand),
                       [&](const std::string& ev, const std::string& et) { return ScalarEq(ev, et, c.operand); });
        if (c.op == Op::kNe) out = "(NOT IFNULL(" + out + ",0))";
        break;
      }
      case Op::kGt:
      case Op::kGte:
      case Op::kLt:
      case Op::kLte:
        s = with_array(Range(value, type, c.op, c.operand),
                       [&](const std::string& ev, const std::string& et) { return Range(ev, et, c.op, c.operand); });
        break;
      case Op::kIn:
      case Op::kNin: {
        const auto& items = c.operand.as_array();
        s = with_array(InList(value, type, items),
                       [&](const std::string& ev, const std::string& et) { return InList(ev, et, items); });
        if (c.op == Op::kNin) out = "(NOT IFNULL(" + out + ",0))";
        break;
      }
      case Op::kExists: out = c.operand.as_bool() ? "(" + type + " IS NOT NULL)" : "(" + type + " IS NULL)"; break;
      case Op::kRegex: {
        json::value pattern = c.operand, options = json::string(c.regex_options);
        auto test = [&](const std::string& ev, const std::string& et) {
          // Parameters are numbered in the order Param() runs: call them in text order, one statement each.
          std::string p1 = Param(pattern);
          std::string p2 = Param(options);
          return "(" + et + "='text' AND dpd_regexp(" + p1 + "," + p2 + "," + ev + "))";
        };
        s = with_array(test(value, type), test);
        break;
      }
      case Op::kAll: {
        const auto& items = c.operand.as_array();
        if (items.empty() || base.alias.size() || c.path.empty()) {
          out = "0";
          break;
        }
        out = "(" + type + "='array'";
        for (const auto& want : items) {
          std::string any;
          auto fn = [&](const std::string& ev, const std::string& et, const std::string&, std::string& t) {
            t = ScalarEq(ev, et, want);
            return Status::Ok();
          };
          if (Status e = AnyElement(c.path, base, type, fn, any); !e.ok()) return e;
          out += " AND " + any;
        }
        out += ")";
        break;
      }
      case Op::kSize: {
        if (c.path.empty() || base.alias.size()) {
          out = "(" + type + "='array' AND json_array_length(" + value + ")=" + Param(c.operand) + ")";
        } else {
          auto jp = JsonPath(c.path);
          if (!jp.ok()) return jp.status();
          out = "(" + type + "='array' AND json_array_length(doc,'" + *jp + "')=" + Param(c.operand) + ")";
        }
        break;
      }
      case Op::kMod: {
        const auto& args = c.operand.as_array();
        std::string divisor = Param(args[0]);
        std::string rest = Param(args[1]);
        out = "(" + type + " IN ('integer','real') AND (CAST(" + value + " AS INTEGER) % CAST(" + divisor +
              " AS INTEGER))=CAST(" + rest + " AS INTEGER))";
        break;
      }
      case Op::kElemMatch: {
        if (c.path.empty() || base.alias.size()) {
          out = "0";  // $elemMatch inside $elemMatch is not supported by dpd's stores
          break;
        }
        auto fn = [&](const std::string& ev, const std::string&, const std::string& alias, std::string& t) {
          return Filter(*c.elem, Base{ev, alias}, t);
        };
        s = AnyElement(c.path, base, type, fn, out);
        break;
      }
    }
    if (!s.ok()) return s;
    if (c.negated) out = "(NOT IFNULL(" + out + ",0))";
    return Status::Ok();
  }
};

}  // namespace

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

Result<std::string> FieldExpr(std::string_view path) {
  auto jp = Builder::JsonPath(path);
  if (!jp.ok()) return jp.status();
  return "json_extract(doc,'" + *jp + "')";
}

Result<Sql> BuildFind(std::string_view collection, const query::Query& q, std::size_t default_limit) {
  Builder b;
  std::string where;
  if (Status s = b.Filter(q.filter, Base{"doc", ""}, where); !s.ok()) return s;
  std::string text = "SELECT id, doc FROM " + QuoteIdent(collection) + " WHERE " + where;
  if (!q.sort.empty()) {
    text += " ORDER BY ";
    for (const auto& key : q.sort) {
      std::string expr;
      if (key.path == "id") {
        expr = "id";
      } else {
        auto e = FieldExpr(key.path);
        if (!e.ok()) return e.status();
        expr = *e;
      }
      text += expr + (key.descending ? " DESC, " : " ASC, ");
    }
    // Ties in insertion order, in the direction of the last key (so an index scan needs no extra sort step).
    text += q.sort.back().descending ? "rowid DESC" : "rowid ASC";
  } else {
    text += " ORDER BY rowid";  // natural (insertion) order, whatever index the filter uses
  }
  text += " LIMIT ? OFFSET ?";
  Sql sql = std::move(b.sql);
  sql.text = std::move(text);
  sql.params.emplace_back(static_cast<std::int64_t>(q.limit > 0 ? static_cast<std::size_t>(q.limit) : default_limit));
  sql.params.emplace_back(q.skip);
  return sql;
}

Result<Sql> BuildCount(std::string_view collection, const query::Filter& filter) {
  Builder b;
  std::string where;
  if (Status s = b.Filter(filter, Base{"doc", ""}, where); !s.ok()) return s;
  Sql sql = std::move(b.sql);
  sql.text = "SELECT count(*) FROM " + QuoteIdent(collection) + " WHERE " + where;
  return sql;
}

Result<Sql> BuildDelete(std::string_view collection, const query::Filter& filter) {
  Builder b;
  std::string where;
  if (Status s = b.Filter(filter, Base{"doc", ""}, where); !s.ok()) return s;
  Sql sql = std::move(b.sql);
  sql.text = "DELETE FROM " + QuoteIdent(collection) + " WHERE " + where;
  return sql;
}

Result<Sql> BuildAggregate(std::string_view collection, const query::Pipeline& p) {
  Builder b;
  std::string where;
  if (Status s = b.Filter(p.match, Base{"doc", ""}, where); !s.ok()) return s;
  std::vector<std::string> ranks, values;
  for (const auto& key : p.keys) {
    if (key.path == "id") {
      ranks.push_back(std::to_string(kString));
      values.push_back("id");
      continue;
    }
    auto jp = Builder::JsonPath(key.path);
    if (!jp.ok()) return jp.status();
    const std::string type = "json_type(doc,'" + *jp + "')";
    ranks.push_back("(CASE " + type + " WHEN 'integer' THEN 1 WHEN 'real' THEN 1 WHEN 'text' THEN 2 WHEN 'object' " +
                    "THEN 3 WHEN 'array' THEN 4 WHEN 'true' THEN 5 WHEN 'false' THEN 5 WHEN 'null' THEN 0 ELSE " +
                    (p.object_key ? "-1" : "0") + " END)");
    values.push_back("json_extract(doc,'" + *jp + "')");
  }
  std::string select;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    select += (i ? ", " : "") + ranks[i] + " AS k" + std::to_string(i) + "r, " + values[i] + " AS k" +
              std::to_string(i) + "v";
  }
  Sql sql;
  std::vector<json::value> select_params;  // the outputs' parameters come before the filter's in the text
  for (std::size_t i = 0; i < p.outputs.size(); ++i) {
    const auto& acc = p.outputs[i];
    std::string expr;
    using Kind = query::Accumulator::Kind;
    if (acc.kind == Kind::kCount || (acc.kind == Kind::kSum && acc.path.empty())) {
      expr = acc.kind == Kind::kCount ? "count(*)" : "(count(*) * ?)";
      if (acc.kind == Kind::kSum) select_params.emplace_back(acc.constant);
    } else {
      std::string value, type;
      if (acc.path == "id") {
        value = "id";
        type = "'text'";
      } else {
        auto jp = Builder::JsonPath(acc.path);
        if (!jp.ok()) return jp.status();
        value = "json_extract(doc,'" + *jp + "')";
        type = "json_type(doc,'" + *jp + "')";
      }
      const std::string numeric = "CASE WHEN " + type + " IN ('integer','real') THEN " + value + " END";
      switch (acc.kind) {
        case Kind::kSum: expr = "total(" + numeric + ")"; break;
        case Kind::kAvg: expr = "avg(" + numeric + ")"; break;
        // Numbers and strings, in MongoDB's order (numbers first); other values are passed over.
        case Kind::kMin:
        case Kind::kMax:
          expr = std::string(acc.kind == Kind::kMin ? "min" : "max") + "(CASE WHEN " + type +
                 " IN ('integer','real','text') THEN " + value + " END)";
          break;
        default: break;
      }
    }
    select += std::string(select.empty() ? "" : ", ") + expr + " AS o" + std::to_string(i);
  }
  if (select.empty()) select = "count(*)";
  std::string text = "SELECT " + select + " FROM " + QuoteIdent(collection) + " WHERE " + where;
  if (!p.keys.empty()) {
    text += " GROUP BY ";
    for (std::size_t i = 0; i < p.keys.size(); ++i) {
      text += (i ? ", k" : "k") + std::to_string(i) + "r, k" + std::to_string(i) + "v";
    }
  } else {
    text += " HAVING count(*) > 0";  // no documents make no group, as in MongoDB
  }
  // ORDER BY the $sort keys, then the whole key ascending (so ties and a pipeline without $sort come out alike).
  std::string order;
  auto key_order = [&](std::size_t i, bool descending) {
    const char* dir = descending ? " DESC" : " ASC";
    order += std::string(order.empty() ? "" : ", ") + "k" + std::to_string(i) + "r" + dir + ", k" +
             std::to_string(i) + "v" + dir;
  };
  for (const auto& s : p.sort) {
    if (s.path == "_id") {
      for (std::size_t i = 0; i < p.keys.size(); ++i) key_order(i, s.descending);
      continue;
    }
    bool done = false;
    for (std::size_t i = 0; i < p.keys.size() && !done; ++i) {
      if (p.object_key && s.path == "_id." + p.keys[i].name) {
        key_order(i, s.descending);
        done = true;
      }
    }
    for (std::size_t i = 0; i < p.outputs.size() && !done; ++i) {
      if (s.path == p.outputs[i].name) {
        order += std::string(order.empty() ? "" : ", ") + "o" + std::to_string(i) + (s.descending ? " DESC" : " ASC");
        done = true;
      }
    }
  }
  for (std::size_t i = 0; i < p.keys.size(); ++i) key_order(i, false);
  if (!order.empty()) text += " ORDER BY " + order;
  const std::int64_t cap = static_cast<std::int64_t>(p.max_groups) + 1;
  text += " LIMIT ? OFFSET ?";
  sql.params = std::move(select_params);
  for (auto& v : b.sql.params) sql.params.push_back(std::move(v));
  sql.params.emplace_back(p.limit >= 0 ? std::min(p.limit, cap) : cap);
  sql.params.emplace_back(p.skip);
  sql.text = std::move(text);
  return sql;
}

std::string IndexName(std::string_view collection, std::string_view path) {
  return std::string(collection) + "__" + std::string(path);
}

Result<std::string> BuildCreateIndex(std::string_view collection, const IndexSpec& index) {
  auto expr = FieldExpr(index.path);
  if (!expr.ok()) return expr.status();
  return std::string("CREATE ") + (index.unique ? "UNIQUE " : "") + "INDEX IF NOT EXISTS " +
         QuoteIdent(IndexName(collection, index.path)) + " ON " + QuoteIdent(collection) + "(" + *expr + ")";
}

}  // namespace dpd::store::sqlite
