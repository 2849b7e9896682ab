#include "http/request_reader.h"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>

namespace dpd::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::size_t HeadLimit(const HttpLimits& limits) { return limits.request_line_bytes + limits.header_bytes; }

void ApplyLimits(RequestParser& parser, const HttpLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(HeadLimit(limits)));
  parser.body_limit(limits.body_bytes);
}

int ParseErrorStatus(const boost::system::error_code& ec, bool start_line_done, bool in_body) {
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == bhttp::error::partial_message || ec == asio::error::operation_aborted) {
    return 0;
  }
  if (ec == beast::error::timeout) return in_body ? 408 : 0;  // slowloris: the header deadline passed, just close
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) return start_line_done ? 431 : 414;
  if (ec == bhttp::error::body_limit) return 413;
  return 400;
}

int CheckHead(const ParsedRequest& msg, const HttpLimits& limits, std::string& target) {
  target.assign(msg.target());
  if (msg.method() == bhttp::verb::unknown) return 400;
  if (msg.method_string().size() + target.size() + 10 > limits.request_line_bytes) return 414;
  std::size_t count = 0, bytes = 0;
  for (const auto& field : msg) {
    ++count;
    bytes += field.name_string().size() + field.value().size() + 4;  // "name: value\r\n"
  }
  if (count > limits.header_count || bytes > limits.header_bytes) return 431;
  // Absolute-form (RFC 7230 §5.3.2) is reduced to its path: the Host part never influences routing.
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
    std::size_t slash = target.find('/', target.find("//") + 2);
    target = slash == std::string::npos ? "/" : target.substr(slash);
  }
  if (target.empty() || target[0] != '/') {
    if (target != "*" || msg.method() != bhttp::verb::options) return 400;
    target = "/";
    return 0;
  }
  std::size_t q = target.find('?');
  if (q != std::string::npos && target.size() - q - 1 > limits.query_string_bytes) return 414;
  return 0;
}

Request TakeRequest(ParsedRequest& msg, std::string target) {
  Request req = TakeHead(msg, std::move(target));
  req.body = std::move(msg.body());
  return req;
}

Request TakeHead(const ParsedRequest& msg, std::string target) {
  Request req;
  req.method = std::string(msg.method_string());
  req.target = std::move(target);
  req.headers.reserve(std::distance(msg.begin(), msg.end()));
  for (const auto& field : msg) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    req.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  req.keep_alive = msg.keep_alive();
  return req;
}

}  // namespace dpd::http
