#pragma once
// Evaluates a Filter on a document in memory, with the semantics the stores implement: equality on an array
// matches an element, null matches missing, range operators compare numbers with numbers and strings with strings
// only, $ne/$nin match missing fields. Used by tests (differential against the stores) and realtime later.
// Pure function.

#include "json/json.h"
#include "query/ast.h"

namespace dpd::query {

// `doc` includes its "id".
bool Matches(const Filter& filter, const json::object& doc);

// Sorts, skips, limits and projects `docs` as the store would (limit 0 = `default_limit`).
void ApplyQueryOptions(const Query& q, std::size_t default_limit, std::vector<json::object>& docs);

// Applies a projection to one document ("id" always kept, last).
void Project(const Query& q, json::object& doc);

}  // namespace dpd::query
