#include "http/client_address.h"

#include <boost/asio/ip/address.hpp>

#include <algorithm>

#include "http/message.h"

namespace dpd::http {
namespace {

// An address as the socket layer prints it (so "::ffff:10.0.0.1" and "10.0.0.1" stay different, as the peer
// addresses they are compared with), or empty when `text` is not one.
std::string Normalise(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(TrimOws(text)), ec);
  return ec ? std::string() : a.to_string();
}

}  // namespace

Result<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& addresses) {
  TrustedProxies out;
  for (const auto& text : addresses) {
    std::string a = Normalise(text);
    if (a.empty()) {
      return Status::BadRequest("--trust-proxy takes IP addresses (no names, no ranges), got \"" + text + "\"");
    }
    out.addresses_.push_back(std::move(a));
  }
  return out;
}

bool TrustedProxies::Trusts(std::string_view peer) const {
  return std::find(addresses_.begin(), addresses_.end(), peer) != addresses_.end();
}

std::string TrustedProxies::ClientOf(const std::string& peer, const std::string* forwarded_for) const {
  if (forwarded_for == nullptr || !Trusts(peer)) return peer;
  std::string_view rest(*forwarded_for);
  std::string client = peer;
  // From the right: every trusted proxy's entry is passed over; the first other entry is the client. An entry that is
  // not an address ends the walk (nothing left of it was written by a proxy we trust).
  while (!rest.empty()) {
    const std::size_t comma = rest.rfind(',');
    std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    std::string a = Normalise(entry);
    if (a.empty()) return client;
    client = a;
    if (!Trusts(a)) return client;
  }
  return client;
}

}  // namespace dpd::http
