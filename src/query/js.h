#pragma once
// The few JavaScript conversions Deployd's semantics depend on, on JSON values. Pure functions.

#include <optional>
#include <string>
#include <string_view>

#include "json/json.h"

namespace dpd::query::js {

// parseFloat(s): leading whitespace, the longest numeric prefix (incl. exponent, "Infinity"); NaN when none.
double ParseFloat(std::string_view s);
// parseInt(s, 10): leading whitespace, sign, digits; nullopt (NaN) when none.
std::optional<double> ParseInt(std::string_view s);
// String(number) as JavaScript prints it (7 → "7", 0.5 → "0.5").
std::string NumberToString(double d);
// JavaScript truthiness of a JSON value (absent = undefined = falsy).
bool Truthy(const json::value* v);
// `===` on JSON values: scalars by value (numbers by numeric value); objects and arrays never equal.
bool StrictEquals(const json::value& a, const json::value& b);
// The value as a double when it is a number.
std::optional<double> AsNumber(const json::value& v);

}  // namespace dpd::query::js
