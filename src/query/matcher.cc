#include "query/matcher.h"

#include <algorithm>
#include <cmath>

#include "query/js.h"
#include "query/regex.h"

namespace dpd::query {
namespace {

const json::value* Lookup(const json::value& root, std::string_view path) {
  if (path.empty()) return &root;
  const json::value* cur = &root;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('.', start);
    if (end == std::string_view::npos) end = path.size();
    const json::object* o = cur->if_object();
    if (o == nullptr) return nullptr;
    cur = o->if_contains(path.substr(start, end - start));
    if (cur == nullptr) return nullptr;
    start = end + 1;
  }
  return cur;
}

bool ScalarEquals(const json::value& a, const json::value& b) {
  if (a.is_object() || a.is_array() || b.is_object() || b.is_array()) return json::Write(a) == json::Write(b);
  return js::StrictEquals(a, b);
}

bool Equals(const json::value* v, const json::value& operand) {
  if (operand.is_null()) return v == nullptr || v->is_null();
  if (v == nullptr) return false;
  if (ScalarEquals(*v, operand)) return true;
  if (const json::array* a = v->if_array(); a && !operand.is_array()) {
    for (const auto& e : *a) {
      if (ScalarEquals(e, operand)) return true;
    }
  }
  return false;
}

// -1/0/1 when comparable (number–number or string–string), nullopt otherwise.
std::optional<int> Compare(const json::value& v, const json::value& operand) {
  auto a = js::AsNumber(v), b = js::AsNumber(operand);
  if (a && b) return *a < *b ? -1 : *a > *b ? 1 : 0;
  if (v.is_string() && operand.is_string()) {
    int c = std::string_view(v.get_string()).compare(std::string_view(operand.get_string()));
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return std::nullopt;
}

bool RangeMatch(const json::value* v, Op op, const json::value& operand) {
  if (v == nullptr) return false;
  auto test = [&](const json::value& x) {
    auto c = Compare(x, operand);
    if (!c) return false;
    switch (op) {
      case Op::kGt: return *c > 0;
      case Op::kGte: return *c >= 0;
      case Op::kLt: return *c < 0;
      default: return *c <= 0;
    }
  };
  if (test(*v)) return true;
  if (const json::array* a = v->if_array()) {
    for (const auto& e : *a) {
      if (test(e)) return true;
    }
  }
  return false;
}

bool TestCondition(const Condition& c, const json::value& root) {
  const json::value* v = Lookup(root, c.path);
  bool r = false;
  switch (c.op) {
    case Op::kEq: r = Equals(v, c.operand); break;
    case Op::kNe: r = !Equals(v, c.operand); break;
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte: r = RangeMatch(v, c.op, c.operand); break;
    case Op::kIn:
    case Op::kNin: {
      bool any = false;
      for (const auto& e : c.operand.as_array()) any = any || Equals(v, e);
      r = c.op == Op::kIn ? any : !any;
      break;
    }
    case Op::kExists: r = (v != nullptr) == c.operand.as_bool(); break;
    case Op::kRegex: {
      if (v != nullptr && v->is_string()) {
        auto re = Regex::Compile(c.operand.as_string(), c.regex_options, SIZE_MAX);
        r = re.ok() && (*re)->Search(v->get_string());
      }
      break;
    }
    case Op::kAll: {
      const json::array* a = v ? v->if_array() : nullptr;
      r = a != nullptr && !c.operand.as_array().empty();  // {"$all": []} matches nothing, as in MongoDB and SQL
      for (const auto& want : c.operand.as_array()) {
        if (!r) break;
        r = std::any_of(a->begin(), a->end(), [&](const json::value& e) { return ScalarEquals(e, want); });
      }
      break;
    }
    case Op::kSize: {
      const json::array* a = v ? v->if_array() : nullptr;
      r = a && static_cast<double>(a->size()) == *js::AsNumber(c.operand);
      break;
    }
    case Op::kMod: {
      auto n = v ? js::AsNumber(*v) : std::nullopt;
      const auto& args = c.operand.as_array();
      auto d = std::trunc(*js::AsNumber(args[0])), rest = std::trunc(*js::AsNumber(args[1]));
      r = n && std::fmod(std::trunc(*n), d) == rest;
      break;
    }
    case Op::kElemMatch: {
      const json::array* a = v ? v->if_array() : nullptr;
      if (a) {
        for (const auto& e : *a) {
          if (Matches(*c.elem, e.is_object() ? e.as_object() : json::object{{"", e}})) {
            r = true;
            break;
          }
        }
      }
      break;
    }
  }
  return c.negated ? !r : r;
}

bool MatchValue(const Filter& f, const json::value& root) {
  switch (f.kind) {
    case Filter::Kind::kCondition: return TestCondition(f.condition, root);
    case Filter::Kind::kAnd:
      return std::all_of(f.children.begin(), f.children.end(), [&](const Filter& c) { return MatchValue(c, root); });
    case Filter::Kind::kOr:
      return std::any_of(f.children.begin(), f.children.end(), [&](const Filter& c) { return MatchValue(c, root); });
    case Filter::Kind::kNor:
      return std::none_of(f.children.begin(), f.children.end(), [&](const Filter& c) { return MatchValue(c, root); });
  }
  return false;
}

// Sort order across types: missing/null < numbers < strings < others (MongoDB's order for these kinds).
int TypeRank(const json::value* v) {
  if (v == nullptr || v->is_null()) return 0;
  if (js::AsNumber(*v)) return 1;
  if (v->is_string()) return 2;
  return 3;
}

// Sorting places an array or object among the strings, by its JSON text: the SQLite store orders by
// json_extract(), which yields that text, and the two must agree (fuzz_sql found they did not). MongoDB orders an
// array by its smallest (ascending) or largest (descending) element; neither store does that (docs/query-language.md).
int SortRank(const json::value* v) { return std::min(TypeRank(v), 2); }

std::string SortText(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::Write(v); }

// Byte-wise, as SQLite's BINARY collation compares TEXT.
int CompareAsText(const json::value& a, const json::value& b) {
  const int c = SortText(a).compare(SortText(b));
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

bool Matches(const Filter& filter, const json::object& doc) {
  // An element that is not an object is wrapped as {"": value}; path "" must then find it.
  if (doc.size() == 1 && doc.begin()->key().empty()) return MatchValue(filter, doc.begin()->value());
  json::value root(doc);
  return MatchValue(filter, root);
}

void Project(const Query& q, json::object& doc) {
  if (q.fields.empty()) return;
  auto listed = [&](std::string_view k) { return std::find(q.fields.begin(), q.fields.end(), k) != q.fields.end(); };
  json::object out;
  for (auto& kv : doc) {
    if (kv.key() == "id") continue;
    if (listed(kv.key()) == q.fields_include) out[kv.key()] = std::move(kv.value());
  }
  if (json::value* id = doc.if_contains("id")) out["id"] = std::move(*id);
  doc = std::move(out);
}

void ApplyQueryOptions(const Query& q, std::size_t default_limit, std::vector<json::object>& docs) {
  if (!q.sort.empty()) {
    // Ties keep insertion order, reversed when the last key is descending (what the SQLite store does).
    std::vector<std::size_t> order(docs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::vector<json::value> values(docs.begin(), docs.end());
    const bool last_desc = q.sort.back().descending;
    std::sort(order.begin(), order.end(), [&](std::size_t ia, std::size_t ib) {
      for (const auto& key : q.sort) {
        const json::value* x = Lookup(values[ia], key.path);
        const json::value* y = Lookup(values[ib], key.path);
        int rx = SortRank(x), ry = SortRank(y);
        int c = rx != ry ? (rx < ry ? -1 : 1) : rx == 2 ? CompareAsText(*x, *y) : (x && y ? Compare(*x, *y).value_or(0) : 0);
        if (c != 0) return key.descending ? c > 0 : c < 0;
      }
      return last_desc ? ia > ib : ia < ib;
    });
    std::vector<json::object> sorted;
    sorted.reserve(docs.size());
    for (std::size_t i : order) sorted.push_back(std::move(docs[i]));
    docs = std::move(sorted);
  }
  std::size_t skip = static_cast<std::size_t>(std::min<std::int64_t>(q.skip, static_cast<std::int64_t>(docs.size())));
  docs.erase(docs.begin(), docs.begin() + static_cast<std::ptrdiff_t>(skip));
  std::size_t limit = q.limit > 0 ? static_cast<std::size_t>(q.limit) : default_limit;
  if (docs.size() > limit) docs.resize(limit);
  for (auto& d : docs) Project(q, d);
}

}  // namespace dpd::query
