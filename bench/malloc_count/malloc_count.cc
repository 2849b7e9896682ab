// Counts the heap allocations of a process (issue #18 item 2: allocations per request on W1's hot path).
// LD_PRELOAD=build/release/bench/libmalloc_count.so MALLOC_COUNT_FILE=/tmp/n dpd …  — every 50 ms a thread writes
// the number of malloc/calloc/realloc/aligned allocations so far to MALLOC_COUNT_FILE; bench/allocations.sh reads it
// before and after a wrk run and divides by the requests. The allocator itself is glibc's (its __libc_* entry points).
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<unsigned long long> g_count{0};

struct Reporter {
  Reporter() {
    const char* file = std::getenv("MALLOC_COUNT_FILE");
    if (file == nullptr) return;
    const int fd = ::open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    std::thread([fd] {
      for (;;) {
        char line[32];
        const int n = std::snprintf(line, sizeof line, "%20llu\n", g_count.load(std::memory_order_relaxed));
        if (::pwrite(fd, line, static_cast<size_t>(n), 0) < 0) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }).detach();
  }
} reporter;
}  // namespace

extern "C" {
void* malloc(size_t n) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  void* p = __libc_memalign(a, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void* aligned_alloc(size_t a, size_t n) {
  g_count.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(a, n);
}
}
