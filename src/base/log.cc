#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace dpd {

void InitLogging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("dpd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_default_logger(logger);
}

bool LogFailure(std::string_view what, const std::exception_ptr& e) {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("task failed task={} error=\"{}\"", what, ex.what());
  } catch (...) {
    spdlog::error("task failed task={} error=unknown", what);
  }
  return true;
}

}  // namespace dpd
