#include "http/query_string.h"

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "http/message.h"

namespace dpd::http {
namespace {

constexpr std::size_t kMaxFormParameters = 1000;  // qs's parameterLimit
constexpr std::size_t kMaxBracketDepth = 5;       // qs's depth; deeper brackets stay part of the last key

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// ^[-+]?[0-9]*\.?[0-9]+$
bool LooksLikeFloat(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (i == s.size()) return int_digits > 0;
  if (s[i] != '.') return false;
  ++i;
  std::size_t frac = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac;
  return i == s.size() && frac > 0;
}

json::value Coerce(std::string_view s) {
  if (AllDigits(s)) {
    // Safe integers only (≤ 2^53-1); longer digit strings stay strings.
    if (s.size() <= 16) {
      std::uint64_t v = std::strtoull(std::string(s).c_str(), nullptr, 10);
      if (v <= 9007199254740991ULL) return json::value(static_cast<std::int64_t>(v));
    }
    return json::value(json::string(s));
  }
  if (LooksLikeFloat(s)) return json::value(std::strtod(std::string(s).c_str(), nullptr));
  return json::value(json::string(s));
}

// "a[b][c]" → {"a","b","c"}; "a[]" → {"a",""}; brackets beyond the depth limit stay literal in the last key.
std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t open = key.find('[');
  if (open == std::string::npos || open == 0) {
    parts.push_back(key);
    return parts;
  }
  parts.push_back(key.substr(0, open));
  std::size_t pos = open;
  while (pos < key.size() && key[pos] == '[' && parts.size() <= kMaxBracketDepth) {
    std::size_t close = key.find(']', pos);
    if (close == std::string::npos) break;
    parts.push_back(key.substr(pos + 1, close - pos - 1));
    pos = close + 1;
  }
  if (pos < key.size()) parts.push_back(key.substr(pos));  // the rest, literally
  return parts;
}

void Assign(json::object& root, const std::vector<std::string>& parts, json::value value) {
  json::object* node = &root;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    std::string key = parts[i];
    if (key == "__proto__") return;  // never a key of ours (scripts later see these objects)
    const bool last = i + 1 == parts.size();
    if (key.empty() && i > 0) key = std::to_string(node->size());  // "a[]" appends
    if (last) {
      auto it = node->find(key);
      if (it == node->end()) {
        node->emplace(key, std::move(value));
      } else if (it->value().is_object() && !value.is_object()) {
        // a[b]=1&a=2: qs keeps the object and adds the value under the next index
        json::object& o = it->value().as_object();
        o.emplace(std::to_string(o.size()), std::move(value));
      } else if (it->value().is_object()) {
        it->value() = std::move(value);
      } else {
        // a=1&a=2 → qs makes an array, which Deployd turns into an index-keyed object.
        json::object merged;
        merged.emplace("0", std::move(it->value()));
        merged.emplace("1", std::move(value));
        it->value() = std::move(merged);
      }
      return;
    }
    auto it = node->find(key);
    if (it == node->end() || !it->value().is_object()) {
      json::object fresh;
      if (it != node->end()) fresh.emplace("0", std::move(it->value()));
      (*node)[key] = std::move(fresh);
      it = node->find(key);
    }
    node = &it->value().as_object();
  }
}

}  // namespace

std::optional<json::object> ParseForm(std::string_view raw, bool coerce_numbers) {
  json::object out;
  std::size_t count = 0, start = 0;
  while (start <= raw.size() && count < kMaxFormParameters) {
    std::size_t end = raw.find('&', start);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view pair = raw.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    ++count;
    std::size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq), true);
    auto val = PercentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!key || !val) return std::nullopt;
    if (key->empty()) continue;
    Assign(out, SplitKey(*key), coerce_numbers ? Coerce(*val) : json::value(json::string(*val)));
  }
  return out;
}

Result<json::object> ParseQueryString(std::string_view raw, const JsonLimits& limits) {
  static const std::string kPrefix = "Failed to parse querystring: ";
  auto decoded = PercentDecode(raw);
  if (!decoded) return Status::BadRequest(kPrefix + "URIError: URI malformed");
  auto parse_json = [&](std::string_view text) -> Result<json::object> {
    auto v = json::Parse(text, limits);
    if (!v.ok()) return Status::BadRequest(kPrefix + "SyntaxError: " + v.status().message());
    if (!v->is_object()) return Status::BadRequest(kPrefix + "SyntaxError: the JSON query must be an object");
    return std::move(v->as_object());
  };
  if (decoded->size() >= 2 && decoded->front() == '{' && decoded->back() == '}') return parse_json(*decoded);
  // "?[...]": an aggregation pipeline (docs/aggregate.md), handed on as {"pipeline": [...]}.
  if (decoded->size() >= 2 && decoded->front() == '[' && decoded->back() == ']') {
    auto v = json::Parse(*decoded, limits);
    if (!v.ok()) return Status::BadRequest(kPrefix + "SyntaxError: " + v.status().message());
    return json::object{{"pipeline", std::move(*v)}};
  }
  auto form = ParseForm(raw, true);
  if (!form) return Status::BadRequest(kPrefix + "URIError: URI malformed");
  if (auto* jq = form->if_contains("_jsonquery")) {
    std::string text = jq->is_string() ? std::string(jq->as_string()) : json::Write(*jq);
    return parse_json(text);
  }
  return std::move(*form);
}

namespace {
std::string_view MediaType(const std::string* content_type) {
  std::string_view media = content_type ? std::string_view(*content_type) : "application/json";
  return media.substr(0, media.find(';'));
}
}  // namespace

bool ParsesBody(const std::string* content_type) {
  const std::string_view media = MediaType(content_type);
  return media == "application/json" || media == "application/x-www-form-urlencoded";
}

Result<std::optional<json::value>> ParseBody(const std::string* content_type, std::string_view body,
                                             const JsonLimits& limits) {
  const std::string_view media = MediaType(content_type);
  if (media == "application/json") {
    if (body.empty()) return std::optional<json::value>(json::object());
    if (body[0] != '{' && body[0] != '[') return Status::BadRequest("Could not parse invalid JSON");
    auto v = json::Parse(body, limits);
    if (!v.ok()) return Status::BadRequest("Failed to parse body as application/json");
    return std::optional<json::value>(std::move(*v));
  }
  if (media == "application/x-www-form-urlencoded") {
    auto form = ParseForm(body, false);
    if (!form) return Status::BadRequest("Failed to parse body as application/x-www-form-urlencoded");
    return std::optional<json::value>(json::value(std::move(*form)));
  }
  return std::optional<json::value>();
}

}  // namespace dpd::http
