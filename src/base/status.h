#pragma once
// Status and Result<T>: expected failures as values (LevelDB style). An OK Status allocates nothing.
// Thread-safety: values; share only copies.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace dpd {

// What went wrong, in terms the HTTP layer maps to a status code (Status::http_status; resources::Reply::FromStatus
// renders the body — the one mapping every resource uses).
enum class Code {
  kOk = 0,
  kBadRequest,       // 400
  kUnauthorized,     // 401
  kForbidden,        // 403
  kNotFound,         // 404
  kTimeout,          // 408
  kPayloadTooLarge,  // 413
  kUriTooLong,       // 414
  kHeadersTooLarge,  // 431
  kTooManyRequests,  // 429
  kInternal,         // 500
  kNotImplemented,   // 501
  kUnavailable,      // 503
  kOverBudget,       // 503: a read stopped at its time budget or because its client left (RELIABILITY B2)
};

// One property's validation error ({"errors": {field: message}} in Deployd's error shape, spec §3.9).
struct FieldError {
  std::string field;
  std::string message;
};

class Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : rep_(std::make_shared<Rep>(Rep{code, std::move(message), {}, 0})) {}

  static Status Ok() { return Status(); }
  static Status BadRequest(std::string m) { return {Code::kBadRequest, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Forbidden(std::string m) { return {Code::kForbidden, std::move(m)}; }
  static Status Unauthorized(std::string m) { return {Code::kUnauthorized, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status PayloadTooLarge(std::string m) { return {Code::kPayloadTooLarge, std::move(m)}; }
  static Status UriTooLong(std::string m) { return {Code::kUriTooLong, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status OverBudget(std::string m) { return {Code::kOverBudget, std::move(m)}; }
  // A 400 carrying property errors (a unique index refusal: {"username": "is already in use"}).
  static Status Invalid(std::vector<FieldError> fields);

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  const std::string& message() const {
    static const std::string kEmpty;
    return rep_ ? rep_->message : kEmpty;
  }
  // The HTTP status: the one given by WithHttpStatus, else the one this code stands for (200 for OK).
  int http_status() const;
  // The same failure answered with `status` (400–599; a script's cancel(msg, 401)). OK stays OK.
  Status WithHttpStatus(int status) const;
  // Property errors (Invalid); empty for every other failure.
  const std::vector<FieldError>& fields() const {
    static const std::vector<FieldError> kNone;
    return rep_ ? rep_->fields : kNone;
  }

 private:
  struct Rep {
    Code code;
    std::string message;
    std::vector<FieldError> fields;
    int http = 0;  // 0: from code
  };
  std::shared_ptr<const Rep> rep_;
};

// Either a value or a non-OK Status.
template <typename T>
class Result {
 public:
  // An empty Result is an Internal error (needed by asio's co_spawn; never returned on purpose).
  Result() : v_(Status(Code::kInternal, "no result")) {}
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace dpd
