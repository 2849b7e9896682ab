#include "query/schema.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "query/js.h"

namespace dpd::query {
namespace {

bool ValidPropertyName(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "id") return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' || c == '-';
    if (!ok) return false;
  }
  return name[0] != '$';
}

// "Exists" in Deployd's validation: truthy or exactly 0.
bool Exists(const json::value* v) {
  if (js::Truthy(v)) return true;
  if (v == nullptr) return false;
  auto n = js::AsNumber(*v);
  return n && *n == 0;
}

std::string FormatIso(double ms) {
  double secs = std::floor(ms / 1000.0);
  auto t = static_cast<std::time_t>(secs);
  int millis = static_cast<int>(ms - secs * 1000.0);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

// YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]; a date-only form is UTC, a date-time without zone is UTC too
// (dpd runs in UTC; JavaScript would use local time).
std::optional<double> ParseIso(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0, tz_sign = 0, tz_h = 0, tz_m = 0;
  std::size_t i = 0;
  auto num = [&](int width, int& out) {
    if (i + width > s.size()) return false;
    out = 0;
    for (int k = 0; k < width; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    i += width;
    return true;
  };
  auto lit = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  if (!num(4, y) || !lit('-') || !num(2, mo) || !lit('-') || !num(2, d)) return std::nullopt;
  if (i < s.size()) {
    if (!lit('T') && !lit(' ')) return std::nullopt;
    if (!num(2, h) || !lit(':') || !num(2, mi)) return std::nullopt;
    if (lit(':')) {
      if (!num(2, sec)) return std::nullopt;
      if (lit('.')) {
        std::size_t start = i;
        int frac = 0, digits = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          if (digits < 3) frac = frac * 10 + (s[i] - '0'), ++digits;
          ++i;
        }
        if (i == start) return std::nullopt;
        while (digits < 3) frac *= 10, ++digits;
        ms = frac;
      }
    }
    if (lit('Z')) {
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      tz_sign = s[i++] == '+' ? 1 : -1;
      if (!num(2, tz_h) || !lit(':') || !num(2, tz_m)) return std::nullopt;
    }
  }
  if (i != s.size() || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 59) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  double t = static_cast<double>(timegm(&tm)) * 1000.0 + ms;
  t -= tz_sign * (tz_h * 60 + tz_m) * 60000.0;
  return t;
}

}  // namespace

const Property* Schema::Find(std::string_view name) const {
  for (const auto& p : properties) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kString: return "string";
    case Type::kNumber: return "number";
    case Type::kBoolean: return "boolean";
    case Type::kDate: return "date";
    case Type::kObject: return "object";
    case Type::kArray: return "array";
  }
  return "string";
}

Result<Schema> Schema::FromConfig(const json::object& config) {
  Schema schema;
  const json::value* props = config.if_contains("properties");
  if (props == nullptr || props->is_null()) return schema;
  if (!props->is_object()) return Status::BadRequest("\"properties\" is not an object");
  for (const auto& kv : props->as_object()) {
    if (!ValidPropertyName(kv.key())) {
      return Status::BadRequest("property name \"" + std::string(kv.key()) +
                                "\" is not supported (letters, digits, _ $ - only)");
    }
    Property p;
    p.name = std::string(kv.key());
    if (const json::object* o = kv.value().if_object()) {
      if (const json::value* t = o->if_contains("type"); t && t->is_string()) {
        std::string_view name = t->as_string();
        p.has_type = true;
        if (name == "string")
          p.type = Type::kString;
        else if (name == "number")
          p.type = Type::kNumber;
        else if (name == "boolean")
          p.type = Type::kBoolean;
        else if (name == "date")
          p.type = Type::kDate;
        else if (name == "object")
          p.type = Type::kObject;
        else if (name == "array")
          p.type = Type::kArray;
        else
          p.has_type = false;
      }
      p.required = js::Truthy(o->if_contains("required"));
      p.index = js::Truthy(o->if_contains("index"));
      p.unique = js::Truthy(o->if_contains("unique"));
    }
    schema.properties.push_back(std::move(p));
  }
  return schema;
}

std::optional<std::string> ToIsoDate(const json::value& v) {
  if (auto n = js::AsNumber(v)) {
    if (!std::isfinite(*n) || std::fabs(*n) > 8.64e15) return std::nullopt;
    return FormatIso(*n);
  }
  if (v.is_string()) {
    auto t = ParseIso(v.get_string());
    if (!t || std::fabs(*t) > 8.64e15) return std::nullopt;
    return FormatIso(*t);
  }
  return std::nullopt;
}

json::object Sanitize(const Schema& schema, const json::object& body) {
  json::object out;
  for (const auto& p : schema.properties) {
    const json::value* v = body.if_contains(p.name);
    if (v == nullptr || !p.has_type) continue;
    switch (p.type) {
      case Type::kString:
        if (v->is_string() || v->is_null())
          out[p.name] = *v;
        else if (auto n = js::AsNumber(*v))
          out[p.name] = js::NumberToString(*n);
        break;
      case Type::kNumber:
        if (js::AsNumber(*v))
          out[p.name] = *v;
        else if (v->is_string()) {
          double d = js::ParseFloat(v->get_string());
          // "Infinity", "-Infinity", "1e400", "NaN": kept as given, so validation answers "must be a number" (never
          // a stored null). A string that is no number at all ("C") is NaN in Deployd, and so missing.
          std::string_view text = v->get_string();
          while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
          if (std::isfinite(d))
            out[p.name] = d;
          else if (std::isinf(d) || text.rfind("NaN", 0) == 0)
            out[p.name] = *v;
          else
            out[p.name] = nullptr;
        }
        break;
      case Type::kBoolean:
        if (v->is_bool()) out[p.name] = *v;
        break;
      case Type::kDate:
        if (v->is_string() || js::AsNumber(*v)) {
          auto iso = ToIsoDate(*v);
          out[p.name] = iso ? json::value(json::string(*iso)) : *v;  // invalid: validation says "must be a date"
        }
        break;
      case Type::kObject:
        if (v->is_object() || v->is_array() || v->is_null()) out[p.name] = *v;
        break;
      case Type::kArray:
        if (v->is_array() || v->is_null()) out[p.name] = *v;
        break;
    }
  }
  return out;
}

json::object Validate(const Schema& schema, json::object& doc, bool create) {
  json::object errors;
  for (const auto& p : schema.properties) {
    const json::value* v = doc.if_contains(p.name);
    if (Exists(v)) {
      bool ok = true;
      switch (p.type) {
        case Type::kString: ok = v->is_string(); break;
        case Type::kNumber: {
          auto n = js::AsNumber(*v);
          if (!n && v->is_string()) {
            double d = js::ParseFloat(v->get_string());
            ok = std::isfinite(d);
          } else {
            ok = n && std::isfinite(*n);
          }
          break;
        }
        case Type::kBoolean: ok = v->is_bool(); break;
        case Type::kDate: ok = ToIsoDate(*v).has_value(); break;
        case Type::kObject: ok = v->is_object(); break;
        case Type::kArray: ok = v->is_array(); break;
      }
      if (!ok) errors[p.name] = "must be a " + std::string(TypeName(p.type));
    } else if (p.required && (create || v != nullptr)) {
      errors[p.name] = "is required";
    }
    if (p.type == Type::kBoolean && !p.required && (v == nullptr || v->is_null())) doc[p.name] = false;
  }
  return errors;
}

}  // namespace dpd::query
