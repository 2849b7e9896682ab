#pragma once
// Deployd's query language → AST (spec §3.2, §5.9), with dpd's operator allowlist: $eq $ne $gt $gte $lt $lte $in
// $nin $exists $regex (+$options) $or $and $nor $not $all $size $elemMatch $mod, and the options $fields $sort
// $orderby $limit $skip. Anything else ($where, $function, $expr, $text, unknown $x, an operator at the top level)
// is a 400 naming the operator. Keys that are neither schema properties (or dotted paths into them), `id`, nor `$`
// keys are left out of the filter (they stay visible to scripts in the raw query). Scalars are typed by the
// property's schema type. Pure function.

#include <string>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"
#include "query/ast.h"
#include "query/schema.h"

namespace dpd::query {

struct ParseOptions {
  // Fields no filter, sort or projection may name (e.g. "password" for non-root callers of a user collection).
  std::vector<std::string> forbidden_fields;
};

Result<Query> ParseQuery(const json::object& raw, const Schema& schema, const QueryLimits& limits,
                         const ParseOptions& options = {});

// True when `path` is a syntactically valid field path: 1–32 dot-separated segments of [A-Za-z0-9_$-], within the
// length limit. Every path that reaches a store passed this check.
bool IsValidPath(std::string_view path, std::size_t max_length);

}  // namespace dpd::query
