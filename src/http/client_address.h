#pragma once
// The client's address behind a load balancer (docs/scaling.md). A connection from a trusted proxy (--trust-proxy)
// carries the client's address in X-Forwarded-For, each proxy appending the address it received the request from;
// only the entries the trusted proxies appended can be believed, so the client is the rightmost entry that is not a
// trusted proxy itself (what a client wrote into the header is further left and ignored). A connection from any other
// address is its own client, whatever the header says. Pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dpd::http {

class TrustedProxies {
 public:
  TrustedProxies() = default;
  // Addresses as written (IPv4 or IPv6, no ranges); a bad one is refused with its text.
  static Result<TrustedProxies> Parse(const std::vector<std::string>& addresses);

  bool empty() const { return addresses_.empty(); }
  bool Trusts(std::string_view peer) const;
  // The client of a request that came from `peer` with X-Forwarded-For `forwarded_for` (null: no header).
  std::string ClientOf(const std::string& peer, const std::string* forwarded_for) const;

 private:
  std::vector<std::string> addresses_;  // normalised (as the socket layer prints them)
};

}  // namespace dpd::http
