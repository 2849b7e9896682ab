// The query string (both forms, _jsonquery) and request bodies by media type, then the query parser over what the
// query string gave: never a crash; an error is a BadRequest.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/fuzz_util.h"
#include "common/schema.h"
#include "http/query_string.h"
#include "query/parse.h"

using dpd::fuzz::IsClientError;
using dpd::fuzz::TodoSchema;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte chooses what the rest is: a query string, or a body with one of the media types.
  const std::uint8_t mode = data[0] % 4;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const dpd::JsonLimits limits = dpd::fuzz::SmallJsonLimits();
  if (mode == 0) {
    auto q = dpd::http::ParseQueryString(rest, limits);
    if (!q.ok()) {
      if (!IsClientError(q.status())) std::abort();
      return 0;
    }
    auto parsed = dpd::query::ParseQuery(*q, TodoSchema(), dpd::QueryLimits{});
    if (!parsed.ok() && !IsClientError(parsed.status())) std::abort();
    return 0;
  }
  static const std::string kTypes[] = {"application/json", "application/x-www-form-urlencoded; charset=utf-8",
                                       "text/plain"};
  auto body = dpd::http::ParseBody(&kTypes[mode - 1], rest, limits);
  if (!body.ok() && !IsClientError(body.status())) std::abort();
  (void)dpd::http::ParseForm(rest, mode == 2);
  return 0;
}
