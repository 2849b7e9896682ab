#pragma once
// The collection schema the query targets parse against: one property of every type.

#include "common/fuzz_util.h"
#include "json/json.h"
#include "query/schema.h"

namespace dpd::fuzz {

inline const query::Schema& TodoSchema() {
  static const query::Schema schema = [] {
    auto config = json::Parse(R"({"title": {"type": "string"}, "done": {"type": "boolean"},
      "n": {"type": "number"}, "tags": {"type": "array"}, "meta": {"type": "object"}, "at": {"type": "date"}})");
    auto s = query::Schema::FromConfig(config->as_object());
    if (!s.ok()) Fail();
    return *s;
  }();
  return schema;
}

}  // namespace dpd::fuzz
