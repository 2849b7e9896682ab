#include "query/js.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace dpd::query::js {

double ParseFloat(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  std::size_t start = i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (s.substr(i, 8) == "Infinity") {
    return s[start] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  std::size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return std::numeric_limits<double>::quiet_NaN();
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t e = i + 1;
    if (e < s.size() && (s[e] == '+' || s[e] == '-')) ++e;
    std::size_t exp_digits = 0;
    while (e < s.size() && std::isdigit(static_cast<unsigned char>(s[e]))) ++e, ++exp_digits;
    if (exp_digits > 0) i = e;
  }
  return std::strtod(std::string(s.substr(start, i - start)).c_str(), nullptr);
}

std::optional<double> ParseInt(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  double v = 0;
  std::size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    v = v * 10 + (s[i++] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return negative ? -v : v;
}

std::string NumberToString(double d) { return json::Write(json::value(d)); }

bool Truthy(const json::value* v) {
  if (v == nullptr) return false;
  switch (v->kind()) {
    case boost::json::kind::null: return false;
    case boost::json::kind::bool_: return v->get_bool();
    case boost::json::kind::int64: return v->get_int64() != 0;
    case boost::json::kind::uint64: return v->get_uint64() != 0;
    case boost::json::kind::double_: return v->get_double() != 0 && !std::isnan(v->get_double());
    case boost::json::kind::string: return !v->get_string().empty();
    default: return true;
  }
}

std::optional<double> AsNumber(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nullopt;
}

bool StrictEquals(const json::value& a, const json::value& b) {
  auto na = AsNumber(a), nb = AsNumber(b);
  if (na || nb) return na && nb && *na == *nb;
  if (a.kind() != b.kind()) return false;
  if (a.is_string()) return a.get_string() == b.get_string();
  if (a.is_bool()) return a.get_bool() == b.get_bool();
  if (a.is_null()) return true;
  return false;  // objects and arrays are compared by identity in JS
}

}  // namespace dpd::query::js
