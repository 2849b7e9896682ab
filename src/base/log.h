#pragma once
// Structured logging: one line per event, `key=value` fields after a short message, on stderr.
// Thread-safe (spdlog's multi-threaded sink). Call InitLogging once at start-up.

#include <spdlog/spdlog.h>

#include <exception>
#include <string_view>

namespace dpd {

// level: trace|debug|info|warn|error|off.
void InitLogging(std::string_view level);

// Logs a failure of detached work `what` at error level ("task failed task=… error=…"); false when `e` is null.
bool LogFailure(std::string_view what, const std::exception_ptr& e);

// The completion handler for detached coroutines (asio::co_spawn): an exception that ends one is logged, never
// dropped. `what` must outlive the task (a literal).
struct LogOnFailure {
  std::string_view what;
  void operator()(const std::exception_ptr& e) const { LogFailure(what, e); }
};

}  // namespace dpd
