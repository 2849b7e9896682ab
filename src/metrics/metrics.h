#pragma once
// Process-wide counters behind /__health (and, with later issues, /__metrics). Lock-free; safe from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace dpd::metrics {

class Registry {
 public:
  Registry() : started_(std::chrono::steady_clock::now()) {}

  // Records one answered request by its status code.
  void CountResponse(int status) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (status >= 500) {
      errors_5xx_.fetch_add(1, std::memory_order_relaxed);
    } else if (status >= 400) {
      errors_4xx_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }
  std::uint64_t errors_4xx() const { return errors_4xx_.load(std::memory_order_relaxed); }
  std::uint64_t errors_5xx() const { return errors_5xx_.load(std::memory_order_relaxed); }

  // The liveness document of /__health: {"status":"ok","uptimeSeconds":N,"requests":N}.
  std::string HealthJson() const;

 private:
  std::chrono::steady_clock::time_point started_;
  std::atomic<std::uint64_t> requests_{0}, errors_4xx_{0}, errors_5xx_{0};
};

}  // namespace dpd::metrics
