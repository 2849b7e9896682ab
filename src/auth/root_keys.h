#pragma once
// Root access (spec §9, ARCHITECTURE §6): the key a request presents (the `dpd-ssh-key` header or the `DpdSshKey`
// cookie) against the keys of .dpd/keys.json, compared in constant time and re-read when the file changes. "Any
// key is root" only when the server says so (development on a loopback listener).
//
// Thread-safety: Matches may be called from any thread.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dpd::auth {

class RootKeys {
 public:
  // Reads the keys of a file (config::ReadKeys: auth/ does not parse app files itself).
  using Loader = std::function<Result<std::vector<std::string>>(const std::filesystem::path&)>;

  RootKeys(std::filesystem::path file, Loader load, bool any_key_is_root);

  // True when `presented` (non-empty) is a root key.
  bool Matches(std::string_view presented);

 private:
  void Refresh();  // with mu_ held

  std::filesystem::path file_;
  Loader load_;
  bool any_key_is_root_;
  std::mutex mu_;
  std::int64_t stamp_ = -2;        // guarded by mu_: the file's mtime when last read (-1: missing)
  std::vector<std::string> keys_;  // guarded by mu_
};

}  // namespace dpd::auth
