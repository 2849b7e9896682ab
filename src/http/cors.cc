#include "http/cors.h"

#include <algorithm>

namespace dpd::http {
namespace {

constexpr std::string_view kSimpleHeaders[] = {"accept",       "accept-language",  "content-language",
                                               "content-type", "x-requested-with", "authorization"};

bool OriginAllowed(const std::string* origin, const CorsOptions& options) {
  if (origin == nullptr) return false;
  if (options.origins.empty()) return true;
  return std::find(options.origins.begin(), options.origins.end(), *origin) != options.origins.end();
}

std::string Trim(std::string_view s) {
  std::string out(TrimOws(s));
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool HeaderAllowed(const std::string& h, const CorsOptions& options) {
  if (h.empty() || h == "origin") return true;
  for (auto s : kSimpleHeaders) {
    if (h == s) return true;
  }
  if (options.allow_root_requests && h == "dpd-ssh-key") return true;
  return std::find(options.extra_request_headers.begin(), options.extra_request_headers.end(), h) !=
         options.extra_request_headers.end();
}

}  // namespace

Response AnswerOptions(const Request& req, const CorsOptions& options) {
  Response res;
  res.status = 204;
  const std::string* origin = req.header("origin");
  const std::string* method = req.header("access-control-request-method");
  if (!OriginAllowed(origin, options)) return res;
  if (method == nullptr) {
    AddCorsHeaders(req, options, res);
    return res;
  }
  if (*method != "GET" && *method != "POST" && *method != "PUT" && *method != "DELETE") return res;
  if (const std::string* hdrs = req.header("access-control-request-headers")) {
    std::string_view rest = *hdrs;
    while (!rest.empty()) {
      std::size_t comma = rest.find(',');
      if (!HeaderAllowed(Trim(rest.substr(0, comma)), options)) return res;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  std::string allowed_headers;
  for (auto s : kSimpleHeaders) {
    if (!allowed_headers.empty()) allowed_headers += ',';
    allowed_headers += s;
  }
  if (options.allow_root_requests) allowed_headers += ",dpd-ssh-key";
  for (const auto& h : options.extra_request_headers) allowed_headers += "," + h;
  res.Set("Access-Control-Allow-Origin", *origin);
  res.Set("Access-Control-Allow-Credentials", "true");
  res.Set("Access-Control-Max-Age", "300");
  res.Set("Access-Control-Allow-Methods", "GET,POST,PUT,DELETE");
  res.Set("Access-Control-Allow-Headers", allowed_headers);
  return res;
}

void AddCorsHeaders(const Request& req, const CorsOptions& options, Response& res) {
  const std::string* origin = req.header("origin");
  if (!OriginAllowed(origin, options)) return;
  res.Set("Access-Control-Allow-Origin", *origin);
  res.Set("Access-Control-Allow-Credentials", "true");
  res.Set("Access-Control-Expose-Headers", "x-session-token,x-session-invalidated");
  res.Set("Vary", "Origin");
}

}  // namespace dpd::http
