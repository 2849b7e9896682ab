#include "metrics/metrics.h"

namespace dpd::metrics {

std::string Registry::HealthJson() const {
  auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  return "{\"status\":\"ok\",\"uptimeSeconds\":" + std::to_string(up) + ",\"requests\":" +
         std::to_string(requests()) + "}";
}

}  // namespace dpd::metrics
