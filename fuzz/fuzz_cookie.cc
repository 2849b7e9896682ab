// The session id from `Authorization: Bearer` or the `sid` cookie, and the client address behind a trusted proxy
// (X-Forwarded-For): never a crash; a cookie's sid never runs into the next cookie; the client is the peer or an
// address the header holds.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/fuzz_util.h"
#include "http/client_address.h"
#include "http/message.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // "<authorization>\n<cookie>\n<x-forwarded-for>"; a missing part is a missing header.
  std::string_view parts[3];
  bool present[3] = {false, false, false};
  std::string_view rest = text;
  for (int i = 0; i < 3 && !rest.empty(); ++i) {
    const std::size_t nl = rest.find('\n');
    parts[i] = rest.substr(0, nl);
    present[i] = true;
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  dpd::http::Request both, auth_only, cookie_only;
  if (present[0]) {
    both.headers.emplace_back("authorization", std::string(parts[0]));
    auth_only.headers.emplace_back("authorization", std::string(parts[0]));
  }
  if (present[1]) {
    both.headers.emplace_back("cookie", std::string(parts[1]));
    cookie_only.headers.emplace_back("cookie", std::string(parts[1]));
  }
  bool bearer = false;
  const std::string from_auth = dpd::http::SessionIdOf(auth_only, &bearer);
  if (!from_auth.empty() && (from_auth.front() == ' ' || from_auth.back() == ' ')) dpd::fuzz::Fail();
  bool no_bearer = false;
  const std::string from_cookie = dpd::http::SessionIdOf(cookie_only, &no_bearer);
  if (no_bearer || from_cookie.find(';') != std::string::npos) dpd::fuzz::Fail();
  // Bearer first; the cookie only when the header gave no id.
  bool ignored = false;
  if (dpd::http::SessionIdOf(both, &ignored) != (from_auth.empty() ? from_cookie : from_auth)) dpd::fuzz::Fail();

  static const auto proxies = dpd::http::TrustedProxies::Parse({"127.0.0.1", "::1"});
  if (!proxies.ok()) dpd::fuzz::Fail();
  const std::string xff(parts[2]);
  const std::string client = proxies->ClientOf("127.0.0.1", present[2] ? &xff : nullptr);
  if (client.empty()) dpd::fuzz::Fail();
  if (client != "127.0.0.1" && !present[2]) dpd::fuzz::Fail();
  if (proxies->ClientOf("10.9.8.7", &xff) != "10.9.8.7") dpd::fuzz::Fail();  // an untrusted peer is its own client
  return 0;
}
