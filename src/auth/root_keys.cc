#include "auth/root_keys.h"

#include <sodium.h>
#include <sys/stat.h>

namespace dpd::auth {

RootKeys::RootKeys(std::filesystem::path file, Loader load, bool any_key_is_root)
    : file_(std::move(file)), load_(std::move(load)), any_key_is_root_(any_key_is_root) {}

bool RootKeys::Matches(std::string_view presented) {
  if (presented.empty()) return false;
  if (any_key_is_root_) return true;
  std::lock_guard lock(mu_);
  Refresh();
  bool match = false;
  for (const auto& k : keys_) {  // every key compared, in constant time each
    if (k.size() == presented.size() && sodium_memcmp(k.data(), presented.data(), k.size()) == 0) match = true;
  }
  return match;
}

void RootKeys::Refresh() {
  struct stat st {};
  const std::int64_t stamp =
      ::stat(file_.c_str(), &st) == 0 ? st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec : -1;
  if (stamp == stamp_) return;
  stamp_ = stamp;
  auto keys = load_(file_);
  keys_ = keys.ok() ? std::move(*keys) : std::vector<std::string>{};
}

}  // namespace dpd::auth
