#include "json/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace dpd::json {
namespace {

// Walks the parsed value with an explicit stack (no recursion, so hostile depth cannot overflow the stack;
// the parser's max_depth already bounds it) and checks the per-container limits and that numbers are finite.
Status CheckSizes(const value& root, const JsonLimits& limits) {
  std::vector<const value*> stack{&root};
  while (!stack.empty()) {
    const value* v = stack.back();
    stack.pop_back();
    if (const object* o = v->if_object()) {
      if (o->size() > limits.max_object_keys) {
        return Status::BadRequest("JSON object has more than " + std::to_string(limits.max_object_keys) + " keys");
      }
      for (const auto& kv : *o) stack.push_back(&kv.value());
    } else if (const array* a = v->if_array()) {
      if (a->size() > limits.max_array_elements) {
        return Status::BadRequest("JSON array has more than " + std::to_string(limits.max_array_elements) +
                                  " elements");
      }
      for (const auto& e : *a) stack.push_back(&e);
    } else if (v->is_double() && !std::isfinite(v->get_double())) {
      // 1e999999 would be Infinity in JavaScript and null once stored: refuse it instead.
      return Status::BadRequest("JSON number out of range");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<value> Parse(std::string_view text, const JsonLimits& limits) {
  boost::json::parse_options options;
  options.max_depth = limits.max_depth;
  boost::system::error_code ec;
  value v = boost::json::parse(text, ec, {}, options);
  if (ec) {
    if (ec == boost::json::error::too_deep) {
      return Status::BadRequest("JSON nested deeper than " + std::to_string(limits.max_depth) + " levels");
    }
    return Status::BadRequest("invalid JSON: " + ec.message());
  }
  if (Status s = CheckSizes(v, limits); !s.ok()) return s;
  return v;
}

namespace {

void WriteNumber(double d, std::string& out) {
  if (!std::isfinite(d)) {
    out += "null";  // JSON.stringify(NaN) and Infinity
    return;
  }
  if (d == 0) {
    out += '0';  // also -0
    return;
  }
  // Shortest round-trip digits, then ECMAScript's Number::toString layout.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  bool negative = sci[0] == '-';
  if (negative) sci.remove_prefix(1);
  std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  int k = static_cast<int>(digits.size());
  int n = exponent + 1;
  if (negative) out += '-';
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
}

void WriteString(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending run of characters that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// `indent` empty: compact. Otherwise as JSON.stringify(v, null, indent): one member per line, nested levels indented,
// empty containers as {} and [].
void WriteValue(const value& v, std::string& out, std::string_view indent = {}, std::size_t depth = 0) {
  auto newline = [&](std::size_t level) {
    if (indent.empty()) return;
    out += '\n';
    for (std::size_t i = 0; i < level; ++i) out += indent;
  };
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case boost::json::kind::double_: WriteNumber(v.get_double(), out); break;
    case boost::json::kind::string: WriteString(v.get_string(), out); break;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        WriteValue(e, out, indent, depth + 1);
      }
      if (!first) newline(depth);
      out += ']';
      break;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        WriteString(kv.key(), out);
        out += indent.empty() ? ":" : ": ";
        WriteValue(kv.value(), out, indent, depth + 1);
      }
      if (!first) newline(depth);
      out += '}';
      break;
    }
  }
}

}  // namespace

std::string Write(const value& v) {
  std::string out;
  WriteValue(v, out);
  return out;
}

std::string WritePretty(const value& v, std::string_view indent) {
  std::string out;
  WriteValue(v, out, indent.empty() ? std::string_view("\t") : indent);
  return out;
}

std::size_t ApproximateSize(const value& v) {
  switch (v.kind()) {
    case boost::json::kind::string: return v.get_string().size() + 2;
    case boost::json::kind::object: {
      std::size_t n = 2;
      for (const auto& kv : v.get_object()) n += kv.key().size() + 4 + ApproximateSize(kv.value());
      return n;
    }
    case boost::json::kind::array: {
      std::size_t n = 2;
      for (const auto& e : v.get_array()) n += 1 + ApproximateSize(e);
      return n;
    }
    case boost::json::kind::bool_: return 5;
    case boost::json::kind::null: return 4;
    default: return 20;  // a number
  }
}

}  // namespace dpd::json
