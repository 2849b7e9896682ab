#include "cli/systemd.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dpd::cli {

bool NotifyServiceManager(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return true;
  const std::size_t len = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sockaddr_un::sun_path)) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  const ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                             addr_len);
  ::close(fd);
  return n == static_cast<ssize_t>(state.size());
}

std::string_view MonotonicField() {
  static thread_local char buf[48];
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int n = std::snprintf(buf, sizeof buf, "MONOTONIC_USEC=%lld",
                              static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000);
  return {buf, n > 0 ? static_cast<std::size_t>(n) : 0};
}

}  // namespace dpd::cli
