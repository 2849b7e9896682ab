#pragma once
// The query AST: what the query language (parse.h) produces and what stores and the in-memory matcher consume.
// No client JSON reaches a store except as operands inside this tree; operators are an allowlisted enum.
// Values; safe to share read-only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "json/json.h"

namespace dpd::query {

enum class Op { kEq, kNe, kGt, kGte, kLt, kLte, kIn, kNin, kExists, kRegex, kAll, kSize, kElemMatch, kMod };

struct Filter;

// One test on the value at `path` ("title", "people.info.name", "id"; "" = the element itself inside $elemMatch).
struct Condition {
  std::string path;
  Op op = Op::kEq;
  json::value operand;        // kIn/kNin/kAll: array of scalars; kExists: bool; kSize: int; kMod: [divisor, rest]
  std::string regex_options;  // kRegex: subset of "imsx"
  bool negated = false;       // wrapped in $not
  // False when the value can never be an array (a typed scalar property, or `id`): stores then skip the
  // "equality on an array matches an element" branch, which keeps plain index lookups.
  bool array_aware = true;
  std::shared_ptr<const Filter> elem;  // kElemMatch: the filter each element is tested against
};

struct Filter {
  enum class Kind { kAnd, kOr, kNor, kCondition };
  Kind kind = Kind::kAnd;  // an empty kAnd matches everything
  std::vector<Filter> children;
  Condition condition;
};

struct SortKey {
  std::string path;
  bool descending = false;
};

struct Query {
  Filter filter;
  std::vector<SortKey> sort;
  std::int64_t limit = 0;  // 0 = none requested (the store caps at QueryLimits::max_limit)
  std::int64_t skip = 0;
  std::vector<std::string> fields;  // projection paths (top-level names)
  bool fields_include = true;       // include-mode (a:1) or exclude-mode (a:0); ignored when fields is empty
  // Set when the filter has a top-level `id` equal to a string: the request is "by id" (single object, 404).
  std::optional<std::string> id;
  // The requesting client's socket (-1: none): a store may stop a long read once the client has closed it.
  int client_fd = -1;
};

}  // namespace dpd::query
