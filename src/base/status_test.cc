#include "base/status.h"

#include <gtest/gtest.h>

namespace dpd {
namespace {

TEST(StatusTest, OkIsEmpty) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.http_status(), 200);
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, CodesMapToHttp) {
  EXPECT_EQ(Status::BadRequest("x").http_status(), 400);
  EXPECT_EQ(Status::NotFound("x").http_status(), 404);
  EXPECT_EQ(Status::UriTooLong("x").http_status(), 414);
  EXPECT_EQ(Status(Code::kHeadersTooLarge, "x").http_status(), 431);
  EXPECT_EQ(Status::Unavailable("x").message(), "x");
}

TEST(StatusTest, FieldErrorsAndHttpOverride) {
  Status s = Status::Invalid({{"username", "is already in use"}});
  EXPECT_EQ(s.code(), Code::kBadRequest);
  ASSERT_EQ(s.fields().size(), 1u);
  EXPECT_EQ(s.fields()[0].field, "username");
  EXPECT_EQ(s.message(), "username is already in use");
  EXPECT_TRUE(Status::BadRequest("x").fields().empty());
  Status t = Status::BadRequest("no").WithHttpStatus(418);
  EXPECT_EQ(t.http_status(), 418);
  EXPECT_EQ(t.code(), Code::kBadRequest);
  EXPECT_EQ(t.message(), "no");
  EXPECT_TRUE(Status::Ok().WithHttpStatus(500).ok());
  EXPECT_EQ(Status::OverBudget("slow").http_status(), 503);
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> a = 5;
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 5);
  Result<int> b = Status::BadRequest("no");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "no");
}

}  // namespace
}  // namespace dpd
