#pragma once
// CORS as Deployd does it (spec §3.1, package corser), with one dpd change: when `origins` is configured, only
// those origins get CORS headers (and so credentials); when it is empty every origin is reflected, as in Deployd.
// Pure functions.

#include <string>
#include <vector>

#include "http/message.h"

namespace dpd::http {

struct CorsOptions {
  std::vector<std::string> origins;                // exact origins; empty = any
  std::vector<std::string> extra_request_headers;  // lower-case
  bool allow_root_requests = false;                // adds dpd-ssh-key to the allowed request headers
};

// For an OPTIONS request: the complete 204 answer (with CORS headers when the preflight is allowed).
Response AnswerOptions(const Request& req, const CorsOptions& options);

// For any other request: adds Allow-Origin/Credentials/Expose-Headers when the Origin is allowed.
void AddCorsHeaders(const Request& req, const CorsOptions& options, Response& res);

}  // namespace dpd::http
