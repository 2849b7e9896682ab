#include "base/status.h"

namespace dpd {

Status Status::Invalid(std::vector<FieldError> fields) {
  Status s;
  std::string message;
  for (const auto& f : fields) message += (message.empty() ? "" : ", ") + f.field + " " + f.message;
  s.rep_ = std::make_shared<Rep>(Rep{Code::kBadRequest, std::move(message), std::move(fields), 0});
  return s;
}

Status Status::WithHttpStatus(int status) const {
  if (ok()) return *this;
  Status s;
  s.rep_ = std::make_shared<Rep>(Rep{rep_->code, rep_->message, rep_->fields, status});
  return s;
}

int Status::http_status() const {
  if (rep_ && rep_->http != 0) return rep_->http;
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
    case Code::kOverBudget: return 503;
  }
  return 500;
}

}  // namespace dpd
