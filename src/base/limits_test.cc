#include "base/limits.h"

#include <gtest/gtest.h>

namespace dpd {
namespace {

TEST(LimitsTest, DefaultsAreTheReliabilityTable) {
  Limits l;
  EXPECT_EQ(l.http.request_line_bytes, 8u * 1024);
  EXPECT_EQ(l.http.header_bytes, 32u * 1024);
  EXPECT_EQ(l.http.header_count, 100u);
  EXPECT_EQ(l.http.body_bytes, 1024u * 1024);
  EXPECT_EQ(l.http.header_deadline.count(), 10'000);
  EXPECT_EQ(l.http.body_deadline.count(), 30'000);
  EXPECT_EQ(l.http.connections_total, 10'000u);
  EXPECT_EQ(l.http.connections_per_ip, 256u);
  EXPECT_EQ(l.json.max_depth, 64u);
  EXPECT_EQ(l.json.max_object_keys, 1000u);
  EXPECT_EQ(l.json.max_array_elements, 10'000u);
  EXPECT_EQ(l.query.max_limit, 1000u);
  EXPECT_EQ(l.query.max_in_elements, 1000u);
  EXPECT_EQ(l.query.max_or_branches, 64u);
  EXPECT_EQ(l.query.max_regex_length, 256u);
  EXPECT_EQ(l.script.wall_time.count(), 1000);
  EXPECT_EQ(l.script.heap_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(l.session.signups, 20u);
  EXPECT_EQ(l.session.signup_window.count(), 5000);
  EXPECT_EQ(l.store.document_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(l.query.time_budget.count(), 2000);
  EXPECT_EQ(l.realtime.queue_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(l.realtime.queue_bytes_total, 256u * 1024 * 1024);
  EXPECT_EQ(l.realtime.sessions_per_ip, 256u);
  EXPECT_EQ(l.realtime.handshakes_per_ip, 50u);
  EXPECT_EQ(l.realtime.close_drain_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(l.realtime.close_drain.count(), 5000);
  EXPECT_EQ(l.modules.upload_bytes, 256u * 1024 * 1024);
  EXPECT_EQ(l.modules.uploads_total_bytes, 1024u * 1024 * 1024);
}

TEST(LimitsTest, SetByName) {
  Limits l;
  ASSERT_TRUE(SetLimit(l, "http.body_bytes", "2048").ok());
  EXPECT_EQ(l.http.body_bytes, 2048u);
  ASSERT_TRUE(SetLimit(l, "http.header_deadline_ms", "800").ok());
  EXPECT_EQ(l.http.header_deadline.count(), 800);
  EXPECT_FALSE(SetLimit(l, "http.nope", "1").ok());
  EXPECT_FALSE(SetLimit(l, "http.body_bytes", "0").ok());
  EXPECT_FALSE(SetLimit(l, "http.body_bytes", "-5").ok());
  EXPECT_FALSE(SetLimit(l, "http.body_bytes", "12abc").ok());
  auto all = DescribeLimits(l);
  EXPECT_EQ(all.size(), 77u);
  EXPECT_NE(std::find(all.begin(), all.end(), "http.body_bytes=2048"), all.end());
}

}  // namespace
}  // namespace dpd
