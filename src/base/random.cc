#include "base/random.h"

#include <sodium.h>

#include <stdexcept>
#include <vector>

namespace dpd {
namespace {

void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

std::string RandomHex(std::size_t bytes) {
  if (bytes == 0) return {};  // randombytes_buf must not get a null buffer (UBSan)
  EnsureSodium();
  std::vector<unsigned char> raw(bytes);
  randombytes_buf(raw.data(), raw.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string NewDocumentId() {
  std::string id = RandomHex(8);
  // Deployd: digits keep their low two bits (| 8), letters become '8'.
  char& c = id[13];
  c = (c >= '0' && c <= '9') ? "0123456789abcdef"[8 | ((c - '0') & 3)] : '8';
  return id;
}

}  // namespace dpd
