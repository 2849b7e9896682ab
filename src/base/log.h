#pragma once
// Structured logging: one line per event, `key=value` fields after a short message, on stderr.
// Thread-safe (spdlog's multi-threaded sink). Call InitLogging once at start-up.

#include <spdlog/spdlog.h>

#include <string_view>

namespace dpd {

// level: trace|debug|info|warn|error|off.
void InitLogging(std::string_view level);

}  // namespace dpd
