#pragma once
// The document type of dpd is Boost.JSON's value. Parse() enforces the JSON limits of base/limits.h
// (depth, keys per object, elements per array); duplicate keys: the last one wins (as JSON.parse does).
// Thread-safety: free functions, no shared state.

#include <boost/json.hpp>

#include <string>
#include <string_view>

#include "base/limits.h"
#include "base/status.h"

namespace dpd::json {

using boost::json::array;
using boost::json::object;
using boost::json::string;
using boost::json::value;

// Parses `text` as one JSON value. Errors are BadRequest with a short reason (never the input itself).
Result<value> Parse(std::string_view text, const JsonLimits& limits = {});

// Compact serialisation, as JSON.stringify does (no spaces).
std::string Write(const value& v);
// As JSON.stringify(v, null, indent) — how Deployd writes config.json (tab-indented).
std::string WritePretty(const value& v, std::string_view indent = "\t");

// The length of Write(v) without writing it, counting each string's bytes as they are (escapes not counted):
// what a size limit on stored documents measures, cheaply.
std::size_t ApproximateSize(const value& v);

}  // namespace dpd::json
