#pragma once
// Shared by the fuzz targets: what counts as a defined refusal.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"

namespace dpd::fuzz {

// Limits small enough that the fuzzer reaches them.
inline JsonLimits SmallJsonLimits(std::size_t depth = 16) {
  JsonLimits limits;
  limits.max_depth = depth;
  limits.max_object_keys = 64;
  limits.max_array_elements = 64;
  return limits;
}
inline QueryLimits SmallQueryLimits() {
  QueryLimits limits;
  limits.max_in_elements = 32;
  limits.max_or_branches = 16;
  return limits;
}

// Bad input must be refused as the client's fault (4xx), never as a server error.
inline bool IsClientError(const Status& s) { return s.http_status() >= 400 && s.http_status() < 500; }

// JSON values equal as JavaScript sees them: numbers by value (dpd writes -3e10 as -30000000000, which reads back as
// an integer), everything else exactly. Numbers within a few units in the last place: Boost 1.81's number parser is
// not correctly rounded for some long mantissas with large exponents ("11301e278" reads as 1.1300999999999999e+282,
// one ulp off; docs/fuzzing.md), so text dpd writes exactly can read back one ulp away.
inline bool SameJson(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.to_number<double>(), y = b.to_number<double>();
    return x == y ||
           std::fabs(x - y) <= 4 * std::numeric_limits<double>::epsilon() * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &x = a.as_array(), &y = b.as_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!SameJson(x[i], y[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.as_object(), &y = b.as_object();
    if (x.size() != y.size()) return false;
    for (const auto& [k, v] : x) {
      const json::value* w = y.if_contains(k);
      if (!w || !SameJson(v, *w)) return false;
    }
    return true;
  }
  return a == b;
}

// The property the target checks does not hold: libFuzzer records the input as a crash.
[[noreturn]] inline void Fail() { std::abort(); }

}  // namespace dpd::fuzz
