#include "base/status.h"

namespace dpd {

int Status::http_status() const {
  switch (code()) {
    case Code::kOk: return 200;
    case Code::kBadRequest: return 400;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kNotFound: return 404;
    case Code::kTimeout: return 408;
    case Code::kPayloadTooLarge: return 413;
    case Code::kUriTooLong: return 414;
    case Code::kHeadersTooLarge: return 431;
    case Code::kTooManyRequests: return 429;
    case Code::kInternal: return 500;
    case Code::kNotImplemented: return 501;
    case Code::kUnavailable: return 503;
  }
  return 500;
}

}  // namespace dpd
