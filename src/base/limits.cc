#include "base/limits.h"

#include <charconv>
#include <variant>

namespace dpd {
namespace {

using Field = std::variant<std::size_t*, std::chrono::milliseconds*>;

struct Named {
  std::string_view name;
  Field field;
};

std::vector<Named> Table(Limits& l) {
  return {
      {"http.request_line_bytes", &l.http.request_line_bytes},
      {"http.header_bytes", &l.http.header_bytes},
      {"http.header_count", &l.http.header_count},
      {"http.query_string_bytes", &l.http.query_string_bytes},
      {"http.body_bytes", &l.http.body_bytes},
      {"http.header_deadline_ms", &l.http.header_deadline},
      {"http.body_deadline_ms", &l.http.body_deadline},
      {"http.body_rate_grace_ms", &l.http.body_rate_grace},
      {"http.body_min_rate", &l.http.body_min_rate},
      {"http.idle_keepalive_ms", &l.http.idle_keepalive},
      {"http.write_deadline_ms", &l.http.write_deadline},
      {"http.connections_total", &l.http.connections_total},
      {"http.connections_per_ip", &l.http.connections_per_ip},
      {"http.large_response_bytes", &l.http.large_response_bytes},
      {"http.response_bytes_total", &l.http.response_bytes_total},
      {"http.shutdown_grace_ms", &l.http.shutdown_grace},
      {"json.max_depth", &l.json.max_depth},
      {"json.max_object_keys", &l.json.max_object_keys},
      {"json.max_array_elements", &l.json.max_array_elements},
      {"query.max_limit", &l.query.max_limit},
      {"query.max_in_elements", &l.query.max_in_elements},
      {"query.max_or_branches", &l.query.max_or_branches},
      {"query.max_nesting", &l.query.max_nesting},
      {"query.max_regex_length", &l.query.max_regex_length},
      {"query.max_path_length", &l.query.max_path_length},
      {"query.max_regex_program", &l.query.max_regex_program},
      {"query.max_regex_repeat", &l.query.max_regex_repeat},
      {"query.time_budget_ms", &l.query.time_budget},
      {"query.aggregate_stages", &l.query.aggregate_stages},
      {"query.aggregate_outputs", &l.query.aggregate_outputs},
      {"query.aggregate_groups", &l.query.aggregate_groups},
      {"store.document_bytes", &l.store.document_bytes},
      {"store.bulk_documents", &l.store.bulk_documents},
      {"script.wall_time_ms", &l.script.wall_time},
      {"script.heap_bytes", &l.script.heap_bytes},
      {"script.cache_entries", &l.script.cache_entries},
      {"script.event_time_ms", &l.script.event_time},
      {"script.recursion_max", &l.script.recursion_max},
      {"script.internal_calls", &l.script.internal_calls},
      {"script.tree_time_ms", &l.script.tree_time},
      {"script.emits", &l.script.emits},
      {"script.source_bytes", &l.script.source_bytes},
      {"modules.request_time_ms", &l.modules.request_time},
      {"modules.busy_time_ms", &l.modules.busy_time},
      {"modules.heap_bytes", &l.modules.heap_bytes},
      {"modules.body_bytes", &l.modules.body_bytes},
      {"modules.upload_bytes", &l.modules.upload_bytes},
      {"modules.uploads_total_bytes", &l.modules.uploads_total_bytes},
      {"modules.response_bytes", &l.modules.response_bytes},
      {"modules.in_flight", &l.modules.in_flight},
      {"realtime.max_payload", &l.realtime.max_payload},
      {"realtime.attachments", &l.realtime.attachments},
      {"realtime.rooms_per_socket", &l.realtime.rooms_per_socket},
      {"realtime.connections", &l.realtime.connections},
      {"realtime.queue_bytes", &l.realtime.queue_bytes},
      {"realtime.queue_bytes_total", &l.realtime.queue_bytes_total},
      {"realtime.sessions_per_ip", &l.realtime.sessions_per_ip},
      {"realtime.handshakes_per_ip", &l.realtime.handshakes_per_ip},
      {"realtime.ping_interval_ms", &l.realtime.ping_interval},
      {"realtime.ping_timeout_ms", &l.realtime.ping_timeout},
      {"realtime.close_drain_bytes", &l.realtime.close_drain_bytes},
      {"realtime.close_drain_ms", &l.realtime.close_drain},
      {"realtime.bus_queue_bytes", &l.realtime.bus_queue_bytes},
      {"session.max_age_ms", &l.session.max_age},
      {"session.cache_entries", &l.session.cache_entries},
      {"session.login_attempts", &l.session.login_attempts},
      {"session.login_window_ms", &l.session.login_window},
      {"session.signups", &l.session.signups},
      {"session.signup_window_ms", &l.session.signup_window},
      {"session.password_bytes", &l.session.password_bytes},
      {"session.reset_attempts", &l.session.reset_attempts},
      {"session.reset_window_ms", &l.session.reset_window},
      {"session.reset_token_time_ms", &l.session.reset_token_time},
      {"session.reset_answer_time_ms", &l.session.reset_answer_time},
      {"session.hash_memory_kib", &l.session.hash_memory_kib},
      {"session.hash_passes", &l.session.hash_passes},
      {"log.slow_request_ms", &l.log.slow_request},
  };
}

}  // namespace

Status SetLimit(Limits& limits, std::string_view name, std::string_view value) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || ptr != value.data() + value.size() || v == 0 || v > (1ULL << 40)) {
    return Status::BadRequest("limit " + std::string(name) + ": \"" + std::string(value) +
                              "\" is not a positive integer");
  }
  for (auto& entry : Table(limits)) {
    if (entry.name != name) continue;
    if (auto* size = std::get_if<std::size_t*>(&entry.field)) {
      **size = static_cast<std::size_t>(v);
    } else {
      *std::get<std::chrono::milliseconds*>(entry.field) = std::chrono::milliseconds(v);
    }
    return Status::Ok();
  }
  return Status::BadRequest("unknown limit \"" + std::string(name) + "\"");
}

std::vector<std::string> DescribeLimits(const Limits& limits) {
  Limits copy = limits;
  std::vector<std::string> out;
  for (auto& entry : Table(copy)) {
    std::uint64_t v = 0;
    if (auto* size = std::get_if<std::size_t*>(&entry.field)) {
      v = **size;
    } else {
      v = static_cast<std::uint64_t>(std::get<std::chrono::milliseconds*>(entry.field)->count());
    }
    out.push_back(std::string(entry.name) + "=" + std::to_string(v));
  }
  return out;
}

}  // namespace dpd
