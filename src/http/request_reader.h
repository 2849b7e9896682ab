#pragma once
// What the server checks between Beast's request parser and the router: the parser's limits, the status a parse
// error is answered with, the checks on a parsed head (method, request line, header count and bytes, query string,
// target form), and the move into dpd's Request. Kept apart from the connection loop (server.cc) so that the fuzz
// target fuzz/fuzz_http.cc runs exactly the code the server runs on the same bytes.
//
// Thread-safety: free functions without state.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>

#include "base/limits.h"
#include "http/message.h"

namespace dpd::http {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
using ParsedRequest = boost::beast::http::request<boost::beast::http::string_body>;

// The bytes the read buffer must hold for the longest head the limits admit.
std::size_t HeadLimit(const HttpLimits& limits);

// Sets `parser`'s header and body limits from `limits`.
void ApplyLimits(RequestParser& parser, const HttpLimits& limits);

// The status a parse error is answered with, 0 for "close without answering" (end of stream, reset, the header
// deadline of a slow client). `start_line_done`: Beast had read the request line, so an overflow is the headers'
// (431) and not the target's (414). `in_body`: a timeout while reading the body is owed a 408.
int ParseErrorStatus(const boost::system::error_code& ec, bool start_line_done, bool in_body);

// Checks a parsed head against the limits: 0 when acceptable, with `target` set to the origin-form target (an
// absolute-form target loses its scheme and host, `OPTIONS *` becomes "/"); otherwise the status to refuse with
// (400, 414, 431). Postcondition on 0: `target` starts with '/' and its query part is within the limit.
int CheckHead(const ParsedRequest& msg, const HttpLimits& limits, std::string& target);

// Moves a complete parsed message into a Request: method, target (from CheckHead), headers with lower-case names in
// arrival order, keep-alive, body. remote_ip, client_fd and id are the caller's.
Request TakeRequest(ParsedRequest& msg, std::string target);
// The same without the body (for a body that is still to be read, or goes elsewhere).
Request TakeHead(const ParsedRequest& msg, std::string target);

}  // namespace dpd::http
