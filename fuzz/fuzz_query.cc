// Deployd queries (spec §5.9) → AST → the in-memory matcher: never a crash or a hang, a refusal is a 4xx.
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/fuzz_util.h"
#include "common/schema.h"
#include "query/matcher.h"
#include "query/parse.h"

namespace {

const std::vector<dpd::json::object>& Documents() {
  static const std::vector<dpd::json::object> docs = [] {
    std::vector<dpd::json::object> out;
    for (
        const char* text : {
            R"({"id": "a1", "title": "Buy milk", "done": false, "n": 1, "tags": ["x", "y"], "meta": {"k": 1}})",
            R"({"id": "b2", "title": "buy MILK", "done": true, "n": -2.5, "tags": [], "at": "2026-01-01T00:00:00.000Z"})",
            R"({"id": "c3", "title": "", "n": 1e300, "tags": [["x"], {"k": null}], "meta": {"k": [1, 2, 3]}})",
            R"({"id": "d4"})",
        }) {
      out.push_back(dpd::json::Parse(text)->as_object());
    }
    return out;
  }();
  return docs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const dpd::JsonLimits limits = dpd::fuzz::SmallJsonLimits(24);
  auto raw = dpd::json::Parse(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (!raw.ok() || !raw->is_object()) return 0;
  const dpd::QueryLimits ql = dpd::fuzz::SmallQueryLimits();
  dpd::query::ParseOptions options;
  options.forbidden_fields = {"password"};
  auto q = dpd::query::ParseQuery(raw->as_object(), dpd::fuzz::TodoSchema(), ql, options);
  if (!q.ok()) {
    if (!dpd::fuzz::IsClientError(q.status())) dpd::fuzz::Fail();
    return 0;
  }
  std::vector<dpd::json::object> matched;
  for (const auto& doc : Documents()) {
    if (dpd::query::Matches(q->filter, doc)) matched.push_back(doc);
  }
  dpd::query::ApplyQueryOptions(*q, 10, matched);
  if (matched.size() > Documents().size()) dpd::fuzz::Fail();
  return 0;
}
