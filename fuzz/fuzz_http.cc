// The HTTP request reader: raw bytes of one connection (pipelined requests included) through Beast's real parser
// with dpd's limits and the server's own head checks (http/request_reader.h), the way Server's connection loop
// runs them. Never a crash; every refusal is one of the statuses the server sends (400, 413, 414, 431) or a close;
// what is accepted has an origin-form target within the limits, lower-case header names within the count, and a
// body within the body limit.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/fuzz_util.h"
#include "http/request_reader.h"

namespace bhttp = boost::beast::http;

namespace {

// Small limits, so that the fuzzer reaches each of them.
dpd::HttpLimits SmallLimits() {
  dpd::HttpLimits limits;
  limits.request_line_bytes = 256;
  limits.header_bytes = 512;
  limits.header_count = 8;
  limits.query_string_bytes = 64;
  limits.body_bytes = 1024;
  return limits;
}

bool Refusal(int status) { return status == 0 || status == 400 || status == 413 || status == 414 || status == 431; }

// Feeds `in` to the parser until `done()` holds; returns the parse error (need_more at the end of input is the
// connection closing mid-message, as the server sees it).
template <typename Done>
boost::system::error_code Feed(dpd::http::RequestParser& parser, std::string_view& in, Done done) {
  boost::system::error_code ec;
  while (!done()) {
    if (in.empty()) return bhttp::error::partial_message;
    const std::size_t n = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    in.remove_prefix(n);
    if (ec == bhttp::error::need_more) {
      if (n == 0) return bhttp::error::partial_message;  // the parser wants more than the connection will send
      ec = {};
      continue;
    }
    if (ec) return ec;
  }
  return ec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const dpd::HttpLimits limits = SmallLimits();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int requests = 0; requests < 16 && !in.empty(); ++requests) {
    dpd::http::RequestParser parser;
    dpd::http::ApplyLimits(parser, limits);
    parser.eager(false);
    if (auto ec = Feed(parser, in, [&] { return parser.is_header_done(); })) {
      if (!Refusal(dpd::http::ParseErrorStatus(ec, !parser.get().target().empty(), false))) dpd::fuzz::Fail();
      return 0;
    }
    std::string target;
    const int head = dpd::http::CheckHead(parser.get(), limits, target);
    if (head != 0) {
      if (!Refusal(head) || head == 0 || head == 413) dpd::fuzz::Fail();
      return 0;
    }
    if (target.empty() || target[0] != '/') dpd::fuzz::Fail();
    if (const std::size_t q = target.find('?'); q != std::string::npos && target.size() - q - 1 > limits.query_string_bytes)
      dpd::fuzz::Fail();
    parser.eager(true);
    if (auto ec = Feed(parser, in, [&] { return parser.is_done(); })) {
      if (!Refusal(dpd::http::ParseErrorStatus(ec, true, true))) dpd::fuzz::Fail();
      return 0;
    }
    const bool keep_alive = parser.get().keep_alive();
    dpd::http::Request req = dpd::http::TakeRequest(parser.get(), std::move(target));
    if (req.method.empty() || req.body.size() > limits.body_bytes || req.headers.size() > limits.header_count)
      dpd::fuzz::Fail();
    for (const auto& [name, value] : req.headers) {
      if (name.empty()) dpd::fuzz::Fail();
      for (unsigned char c : name) {
        if (c >= 'A' && c <= 'Z') dpd::fuzz::Fail();
      }
    }
    if (!keep_alive) return 0;  // the server closes after answering
  }
  return 0;
}
