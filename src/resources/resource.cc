#include "resources/resource.h"

#include <cctype>

#include "base/log.h"

namespace dpd::resources {

std::string JsName(std::string_view resource_name) {
  std::string out;
  for (char c : resource_name) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

const std::string* Context::header(std::string_view lower_name) const {
  if (headers == nullptr) return nullptr;
  for (const auto& [n, v] : *headers) {
    if (n == lower_name) return &v;
  }
  return nullptr;
}

Reply Reply::Json(json::value v, int status) {
  Reply r;
  r.kind = Kind::kJson;
  r.status = status;
  r.json = std::move(v);
  return r;
}

Reply Reply::Empty(int status) {
  Reply r;
  r.kind = Kind::kEmpty;
  r.status = status;
  return r;
}

Reply Reply::Error(int status, std::string_view message, bool with_status_code) {
  Reply r;
  r.kind = Kind::kError;
  r.status = status;
  json::object body;
  body["message"] = message;
  if (with_status_code) body["statusCode"] = status;
  r.json = std::move(body);
  return r;
}

Reply Reply::Errors(json::object errors) {
  Reply r;
  r.kind = Kind::kError;
  r.status = 400;
  r.json = json::object{{"errors", std::move(errors)}};
  r.error_kind = "validation";
  return r;
}

Reply Reply::FromStatus(const Status& s, bool with_status_code) {
  if (!s.fields().empty()) {
    json::object errors;
    for (const auto& f : s.fields()) errors[f.field] = f.message;
    return Errors(std::move(errors));
  }
  return Error(s.http_status(), s.message(), with_status_code);
}

Reply Reply::FromStore(const Status& s) {
  if (!s.fields().empty()) return FromStatus(s);
  Reply r;
  if (s.code() == Code::kOverBudget) {
    // The read was abandoned (RELIABILITY B2): the worker is free again.
    spdlog::warn("store: read abandoned: {}", s.message());
    r = Error(503, "Query took too long: " + s.message(), true);
    r.error_kind = "query_budget";
  } else {
    spdlog::error("store error: {}", s.message());
    r = s.code() == Code::kUnavailable ? Error(503, "Database unavailable") : Error(500, "Internal error");
    r.error_kind = s.code() == Code::kUnavailable ? "store_unavailable" : "store_error";
  }
  if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

Resource::Resource(std::string name, std::string type)
    : name_(std::move(name)), type_(std::move(type)), path_("/" + name_) {}

std::optional<double> RequestedRecursion(const Context& ctx) {
  const json::value* v = ctx.query.if_contains("$limitRecursion");
  if (v == nullptr && ctx.body && ctx.body->is_object()) v = ctx.body->as_object().if_contains("$limitRecursion");
  if (v == nullptr) return std::nullopt;
  if (v->is_number()) return v->to_number<double>();
  if (v->is_string()) return std::atof(std::string(v->as_string()).c_str());
  return 0.0;
}

}  // namespace dpd::resources
