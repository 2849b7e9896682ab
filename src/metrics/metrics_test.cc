#include "metrics/metrics.h"

#include <gtest/gtest.h>

namespace dpd::metrics {
namespace {

TEST(MetricsTest, CountsByStatusClass) {
  Registry r;
  r.CountResponse(200);
  r.CountResponse(404);
  r.CountResponse(400);
  r.CountResponse(503);
  EXPECT_EQ(r.requests(), 4u);
  EXPECT_EQ(r.errors_4xx(), 2u);
  EXPECT_EQ(r.errors_5xx(), 1u);
  EXPECT_EQ(r.HealthJson().rfind("{\"status\":\"ok\",\"uptimeSeconds\":", 0), 0u);
  EXPECT_NE(r.HealthJson().find("\"requests\":4}"), std::string::npos);
}

}  // namespace
}  // namespace dpd::metrics
