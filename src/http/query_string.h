#pragma once
// Deployd's query-string and request-body parsing (spec/deployd-1.2.md §3.2, §3.3). Pure functions.

#include <optional>
#include <string>
#include <string_view>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"

namespace dpd::http {

// Parses the raw text after '?' (spec §3.2): the JSON form ("?{...}" once percent-decoded), otherwise the form
// syntax with nested brackets (a[b]=1) and Deployd's numeric coercion, then `_jsonquery`. "?[...]" (a JSON array) is
// an aggregation pipeline: {"pipeline": [...]}. Arrays become objects
// with index keys, as in Deployd. Errors: BadRequest whose message is the whole text Deployd sends
// ("Failed to parse querystring: ..."), to be answered as text/plain.
Result<json::object> ParseQueryString(std::string_view raw, const JsonLimits& limits = {});

// Parses a form-encoded text with nested brackets; values stay strings unless `coerce_numbers`.
// Returns nullopt when an escape is malformed.
std::optional<json::object> ParseForm(std::string_view raw, bool coerce_numbers);

// Parses a request body by media type (spec §3.3). Returns:
//  - a value for application/json (empty body ⇒ {}) and application/x-www-form-urlencoded,
//  - nullopt for any other media type (the body is then "not parsed", as in Deployd),
//  - BadRequest with Deployd's text/plain message on malformed input.
// `content_type` is the raw header (nullptr when absent ⇒ JSON).
Result<std::optional<json::value>> ParseBody(const std::string* content_type, std::string_view body,
                                             const JsonLimits& limits = {});
// True when ParseBody parses bodies of this content type (JSON, the default, and urlencoded forms).
bool ParsesBody(const std::string* content_type);

}  // namespace dpd::http
