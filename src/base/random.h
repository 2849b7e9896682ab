#pragma once
// Identifiers from a CSPRNG (libsodium's randombytes). Thread-safe.

#include <cstddef>
#include <string>

namespace dpd {

// `bytes` random bytes as 2*bytes lower-case hex characters.
std::string RandomHex(std::size_t bytes);

// A Deployd document id: 16 lower-case hex characters, index 13 forced into {8,9,a,b} (spec §1.6).
std::string NewDocumentId();

}  // namespace dpd
