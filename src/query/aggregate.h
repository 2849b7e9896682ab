#pragma once
// Aggregation pipelines (docs/aggregate.md): the allowlisted subset of MongoDB's pipeline dpd answers on every
// store — an optional `$match` (the query language of parse.h) first, exactly one `$group` whose `_id` is null, a
// "$field" or an object of them and whose outputs are `$sum`, `$avg`, `$min`, `$max`, `$count`, then `$sort`
// (on the group's outputs) and `$skip` / `$limit` in any order. Anything else is a 400 naming the stage or
// operator. Values; pure functions.

#include <cstdint>
#include <string>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"
#include "query/ast.h"
#include "query/parse.h"
#include "query/schema.h"

namespace dpd::query {

struct Accumulator {
  enum class Kind { kSum, kAvg, kMin, kMax, kCount };
  std::string name;  // the output field
  Kind kind = Kind::kSum;
  std::string path;  // the field it reads ("" when it sums a constant, or for kCount)
  double constant = 0;  // kSum of a number: that number per document
};

// One part of the group key: `_id` ("name" empty: the key is the field's value itself) or `_id.<name>`.
struct GroupKey {
  std::string name;
  std::string path;
};

struct Pipeline {
  Filter match;                   // an empty kAnd: every document
  std::vector<GroupKey> keys;     // empty: one group of every document (`_id: null`)
  bool object_key = false;        // `_id` is an object of keys (else a single field, or null when keys is empty)
  std::vector<Accumulator> outputs;
  // The sort on the groups: paths are "_id", "_id.<name>" or an output name. Without a $sort, groups come in the
  // order of `_id` ascending (MongoDB leaves it unspecified; dpd fixes it so every store answers alike).
  std::vector<SortKey> sort;
  std::int64_t skip = 0;
  std::int64_t limit = -1;  // -1: no $limit; 0: nothing (a $skip took all a $limit allowed)
  // A store answers at most this many groups; one more is an error (QueryLimits::aggregate_groups).
  std::size_t max_groups = 0;
};

// The error a store answers when the pipeline makes more than `max_groups` groups.
Status TooManyGroups(std::size_t max_groups);

// Parses a pipeline given as a JSON array. `$match` follows ParseQuery's rules (schema typing, forbidden fields);
// grouped and accumulated fields must be schema properties (or dotted paths into them) and never forbidden ones.
Result<Pipeline> ParsePipeline(const json::array& stages, const Schema& schema, const QueryLimits& limits,
                               const ParseOptions& options = {});

}  // namespace dpd::query
