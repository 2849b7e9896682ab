#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <thread>

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

TEST(MetricsTest, PerThreadCellsSumExactly) {
  Counter c;
  Histogram h({0.001, 0.01, 0.1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 40; ++t) {  // more threads than slots: shared cells stay exact
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        c.Add();
        h.Observe(i % 2 ? 0.005 : 0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40'000u);
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, 40'000u);
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 0u);       // ≤ 1 ms
  EXPECT_EQ(s.cumulative[1], 20'000u);  // ≤ 10 ms
  EXPECT_EQ(s.cumulative[2], 20'000u);  // ≤ 100 ms
  EXPECT_EQ(s.cumulative[3], 40'000u);  // +Inf
  EXPECT_NEAR(s.sum, 20'000 * 0.005 + 20'000 * 0.5, 1e-6);
}

TEST(MetricsTest, HistogramBoundsAreInclusive) {
  Histogram h({1, 2});
  h.Observe(1);
  h.Observe(2);
  h.Observe(2.5);
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(MetricsTest, SourcesAreReadAtCollection) {
  Registry r;
  Gauge live;
  r.AddSource([&live](std::vector<Family>& out) {
    out.push_back(GaugeFamily("dpd_test_live", "A test gauge.", static_cast<double>(live.Value())));
  });
  live.Set(3);
  r.CountResponse(500);
  auto find = [](const std::vector<Family>& fs, const std::string& name) -> const Family* {
    for (const auto& f : fs) {
      if (f.name == name) return &f;
    }
    return nullptr;
  };
  auto first = r.Collect();
  ASSERT_NE(find(first, "dpd_test_live"), nullptr);
  EXPECT_EQ(find(first, "dpd_test_live")->samples.at(0).value, 3);
  const Family* responses = find(first, "dpd_http_responses_total");
  ASSERT_NE(responses, nullptr);
  EXPECT_EQ(responses->kind, Kind::kCounter);
  EXPECT_EQ(responses->samples.at(2).labels, "class=\"5xx\"");
  EXPECT_EQ(responses->samples.at(2).value, 1);
  live.Set(5);
  EXPECT_EQ(find(r.Collect(), "dpd_test_live")->samples.at(0).value, 5) << "read again at every collection";
  Histogram h({0.1});
  h.Observe(0.05);
  Family hf = HistogramFamily("dpd_test_seconds", "A test histogram.", h.Read());
  ASSERT_EQ(hf.samples.size(), 4u);
  EXPECT_EQ(hf.samples[0].name, "dpd_test_seconds_bucket");
  EXPECT_EQ(hf.samples[0].labels, "le=\"0.1\"");
  EXPECT_EQ(hf.samples[1].labels, "le=\"+Inf\"");
  EXPECT_EQ(hf.samples[3].name, "dpd_test_seconds_count");
}

TEST(MetricsTest, RoutesAndThePrometheusText) {
  RouteTable routes;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&routes] {
      for (int i = 0; i < 250; ++i) routes.Observe("todos", "GET", i % 10 == 0 ? 404 : 200, 0.002);
      routes.Observe("a \"b\"", "PATCH", 500, 0.5);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(routes.For("todos", "GET").by_class[1].Value(), 900u);  // 2xx
  EXPECT_EQ(routes.For("todos", "HEAD").by_class[3].Value(), 100u) << "HEAD counts as GET";
  std::vector<Family> families;
  routes.Collect(families);
  const std::string text = RenderPrometheus(families);
  EXPECT_NE(text.find("# TYPE dpd_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("dpd_http_requests_total{resource=\"todos\",method=\"GET\",class=\"2xx\"} 900\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("dpd_http_requests_total{resource=\"a \\\"b\\\"\",method=\"OTHER\",class=\"5xx\"} 4\n"),
            std::string::npos)
      << "label values escaped";
  EXPECT_NE(
      text.find("dpd_http_request_duration_seconds_bucket{resource=\"todos\",method=\"GET\",le=\"0.0025\"} 1000\n"),
      std::string::npos);
  EXPECT_NE(text.find("dpd_http_request_duration_seconds_count{resource=\"todos\",method=\"GET\"} 1000\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE dpd_http_request_duration_seconds histogram\n"), std::string::npos);
}

TEST(ErrorTable, EveryKindIsListedAndStatusesMapToKinds) {
  ErrorTable errors;
  EXPECT_EQ(ErrorTable::Kinds().size(), 16u);
  EXPECT_EQ(ErrorTable::KindOfStatus(404), "not_found");
  EXPECT_EQ(ErrorTable::KindOfStatus(413), "too_large");
  EXPECT_EQ(ErrorTable::KindOfStatus(431), "too_large");
  EXPECT_EQ(ErrorTable::KindOfStatus(429), "rate_limited");
  EXPECT_EQ(ErrorTable::KindOfStatus(418), "client_other");
  EXPECT_EQ(ErrorTable::KindOfStatus(502), "server_error");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&errors] {
      for (int i = 0; i < 250; ++i) errors.Count("validation");
      errors.Count("no such kind");  // ignored
    });
  }
  for (auto& t : threads) t.join();
  errors.Count("script_timeout");
  std::vector<Family> families;
  errors.Collect(families);
  const std::string text = RenderPrometheus(families);
  EXPECT_NE(text.find("dpd_http_errors_total{kind=\"validation\"} 1000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dpd_http_errors_total{kind=\"script_timeout\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("dpd_http_errors_total{kind=\"store_unavailable\"} 0\n"), std::string::npos) << "zeros shown";
}

}  // namespace
}  // namespace dpd::metrics
