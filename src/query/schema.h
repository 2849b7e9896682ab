#pragma once
// A collection's schema (config.json "properties", spec §1.2) and the three schema-driven steps of a write:
// sanitisation (§5.6), validation (§5.8) and date conversion. Pure functions; a Schema is immutable.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "json/json.h"

namespace dpd::query {

enum class Type { kString, kNumber, kBoolean, kDate, kObject, kArray };

struct Property {
  std::string name;
  Type type = Type::kString;
  bool has_type = false;  // a property without "type" validates as string but is dropped by sanitisation (quirk)
  bool required = false;
  bool index = false;   // dpd extension: "index": true
  bool unique = false;  // dpd extension: "unique": true
};

struct Schema {
  std::vector<Property> properties;  // config order

  const Property* Find(std::string_view name) const;
  // From a config.json object. Property names must be made of [A-Za-z0-9_$-] (they become SQL/JSON paths);
  // others are refused with the reason.
  static Result<Schema> FromConfig(const json::object& config);
};

std::string_view TypeName(Type t);

// §5.6: keeps schema properties only, converting by type; everything else (unknown fields, `id`, `$` keys) is
// dropped. Output in schema order.
json::object Sanitize(const Schema& schema, const json::object& body);

// §5.8: validates `doc` in place (defaults missing non-required booleans to false, appended at the end) and returns
// the error map ({} when valid). `create` selects the create rules for required properties.
json::object Validate(const Schema& schema, json::object& doc, bool create);

// A date as JavaScript's `new Date(v)` would take it (numbers: ms since the epoch; strings: ISO 8601 forms),
// rendered as ISO-8601 UTC with milliseconds. nullopt for an invalid date.
std::optional<std::string> ToIsoDate(const json::value& v);

}  // namespace dpd::query
