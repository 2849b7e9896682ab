#include "http/cors.h"

#include <gtest/gtest.h>

namespace dpd::http {
namespace {

Request Options(std::vector<std::pair<std::string, std::string>> headers) {
  Request r;
  r.method = "OPTIONS";
  r.target = "/todos";
  r.headers = std::move(headers);
  return r;
}

TEST(CorsTest, PreflightAllowed) {
  auto res = AnswerOptions(Options({{"origin", "http://a.example"},
                                    {"access-control-request-method", "PUT"},
                                    {"access-control-request-headers", "Content-Type, X-Requested-With"}}),
                           {});
  EXPECT_EQ(res.status, 204);
  EXPECT_EQ(*res.Get("Access-Control-Allow-Origin"), "http://a.example");
  EXPECT_EQ(*res.Get("Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(*res.Get("Access-Control-Max-Age"), "300");
  EXPECT_EQ(*res.Get("Access-Control-Allow-Methods"), "GET,POST,PUT,DELETE");
  EXPECT_EQ(*res.Get("Access-Control-Allow-Headers"),
            "accept,accept-language,content-language,content-type,x-requested-with,authorization");
}

TEST(CorsTest, PreflightRefusedHasNoCorsHeaders) {
  auto bad_method =
      AnswerOptions(Options({{"origin", "http://a.example"}, {"access-control-request-method", "PATCH"}}), {});
  EXPECT_EQ(bad_method.status, 204);
  EXPECT_EQ(bad_method.Get("Access-Control-Allow-Origin"), nullptr);
  auto bad_header = AnswerOptions(Options({{"origin", "http://a.example"},
                                           {"access-control-request-method", "GET"},
                                           {"access-control-request-headers", "dpd-ssh-key"}}),
                                  {});
  EXPECT_EQ(bad_header.Get("Access-Control-Allow-Origin"), nullptr);
  CorsOptions root;
  root.allow_root_requests = true;
  auto ok = AnswerOptions(Options({{"origin", "http://a.example"},
                                   {"access-control-request-method", "GET"},
                                   {"access-control-request-headers", "dpd-ssh-key"}}),
                          root);
  EXPECT_NE(ok.Get("Access-Control-Allow-Origin"), nullptr);
}

TEST(CorsTest, OptionsWithoutOriginIsBare204) {
  auto res = AnswerOptions(Options({}), {});
  EXPECT_EQ(res.status, 204);
  EXPECT_TRUE(res.headers.empty());
  EXPECT_TRUE(res.body.empty());
}

TEST(CorsTest, AllowListRestrictsCredentials) {
  CorsOptions options;
  options.origins = {"https://good.example"};
  Request req;
  req.method = "GET";
  req.headers = {{"origin", "https://evil.example"}};
  Response res;
  AddCorsHeaders(req, options, res);
  EXPECT_EQ(res.Get("Access-Control-Allow-Credentials"), nullptr);
  req.headers = {{"origin", "https://good.example"}};
  AddCorsHeaders(req, options, res);
  EXPECT_EQ(*res.Get("Access-Control-Allow-Origin"), "https://good.example");
  EXPECT_EQ(*res.Get("Access-Control-Expose-Headers"), "x-session-token,x-session-invalidated");
}

}  // namespace
}  // namespace dpd::http
