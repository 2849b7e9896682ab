#pragma once
// Structured logging: one line per event on stderr — a short message, then `key=value` fields (values with spaces
// or quotes are written "quoted" with \" and \\ escaped: see LogQuote). In the JSON format each line is one object
// instead: {"time", "level", "msg", then each field; numbers as numbers}. Never a body, password, session id or
// key (callers log ids and paths, not values).
// Thread-safe (spdlog's multi-threaded sink). Call InitLogging once at start-up.

#include <spdlog/spdlog.h>

#include <exception>
#include <string>
#include <string_view>

namespace dpd {

enum class LogFormat { kText, kJson };

// level: trace|debug|info|warn|error|off.
void InitLogging(std::string_view level, LogFormat format = LogFormat::kText);

// `s` as a field value: a JSON string ("quoted", escaped, bytes that are not UTF-8 as U+FFFD).
std::string LogQuote(std::string_view s);

// One text line (after the time and level) as the JSON object the JSON format writes: {"msg": …, fields…}.
// Exposed for tests.
std::string LogLineJson(std::string_view line);

// Logs a failure of detached work `what` at error level ("task failed task=… error=…"); false when `e` is null.
bool LogFailure(std::string_view what, const std::exception_ptr& e);

// The completion handler for detached coroutines (asio::co_spawn): an exception that ends one is logged, never
// dropped. `what` must outlive the task (a literal).
struct LogOnFailure {
  std::string_view what;
  void operator()(const std::exception_ptr& e) const { LogFailure(what, e); }
};

}  // namespace dpd
