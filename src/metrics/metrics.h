#pragma once
// Process-wide figures behind /__health (and /__metrics, issue #15): counters, gauges and histograms whose hot
// side is a per-thread cell (no lock, no shared cache line on the request path), summed when read; and sources —
// functions registered by server/ that read another module's figures (store pool, script cache, sessions, sockets)
// at collection time.
//
// Thread-safety: Add/Observe/Set from any thread, lock-free; registration before serving; Collect from any thread.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dpd::metrics {

// Cells per metric. Threads take slots in order of their first use; beyond kSlots they share slots (still exact:
// cells are atomic, only slower).
inline constexpr std::size_t kSlots = 32;
std::size_t ThisThreadSlot();

class Counter {
 public:
  void Add(std::uint64_t n = 1) { cells_[ThisThreadSlot()].v.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> v{0};
  };
  std::array<Cell, kSlots> cells_;
};

class Gauge {
 public:
  void Set(std::int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(std::int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  std::int64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Observations into fixed buckets (upper bounds, ascending; +Inf is implied), with their count and sum.
class Histogram {
 public:
  static constexpr std::size_t kMaxBuckets = 15;
  // Latency buckets in seconds: 0.5 ms … 10 s.
  static std::vector<double> LatencyBounds();
  explicit Histogram(std::vector<double> bounds);

  void Observe(double v);
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // observations ≤ bounds[i]; the last entry (+Inf) is the count
    std::uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Read() const;

 private:
  struct alignas(64) Cell {
    std::array<std::atomic<std::uint64_t>, kMaxBuckets + 1> buckets{};
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::unique_ptr<Cell[]> cells_;
};

// One value of a collected metric: name (dpd_…, base units), labels as Prometheus writes them (`a="b",c="d"`).
struct Sample {
  std::string name;
  std::string labels;
  double value = 0;
};
enum class Kind { kCounter, kGauge, kHistogram };
struct Family {
  std::string name;
  std::string help;
  Kind kind = Kind::kGauge;
  std::vector<Sample> samples;  // histograms: name_bucket{le=…}, name_sum, name_count
};

class Registry {
 public:
  Registry() : started_(std::chrono::steady_clock::now()) {}

  // Records one answered request by its status code.
  void CountResponse(int status) {
    requests_.Add();
    if (status >= 500) {
      errors_5xx_.Add();
    } else if (status >= 400) {
      errors_4xx_.Add();
    }
  }

  std::uint64_t requests() const { return requests_.Value(); }
  std::uint64_t errors_4xx() const { return errors_4xx_.Value(); }
  std::uint64_t errors_5xx() const { return errors_5xx_.Value(); }

  // The liveness document of /__health: {"status":"ok","uptimeSeconds":N,"requests":N}.
  std::string HealthJson() const;

  // A source: called at every collection, it appends its families. Register before serving.
  using Source = std::function<void(std::vector<Family>&)>;
  void AddSource(Source source);
  // Every family: the built-in ones (requests, errors, uptime) and then each source's, in registration order.
  std::vector<Family> Collect() const;

 private:
  std::chrono::steady_clock::time_point started_;
  Counter requests_, errors_4xx_, errors_5xx_;
  mutable std::mutex sources_mu_;
  std::vector<Source> sources_;  // guarded by sources_mu_
};

// Per resource and method: responses by status class and a latency histogram. The request path finds its cells
// through a per-thread cache (a mutex only the first time a thread sees a route), so counting takes no lock.
class RouteTable {
 public:
  struct Cells {
    Counter by_class[5];  // 1xx … 5xx
    Histogram seconds{Histogram::LatencyBounds()};
  };
  // `resource`: the resource name ("todos"; "" for the root/static files; callers name unmatched paths themselves).
  Cells& For(std::string_view resource, std::string_view method);
  void Observe(std::string_view resource, std::string_view method, int status, double seconds);
  // dpd_http_requests_total{resource,method,class} and dpd_http_request_duration_seconds{resource,method}.
  void Collect(std::vector<Family>& out) const;
  // The same figures as values (the Performance page's windows are differences of two reads).
  struct Figures {
    std::string resource;
    std::string method;
    std::uint64_t by_class[5] = {};
    Histogram::Snapshot seconds;
  };
  std::vector<Figures> Read() const;

 private:
  static std::size_t MethodIndex(std::string_view method);  // GET, POST, PUT, DELETE, other
  struct Route {
    std::string resource;
    std::size_t method;
    Cells cells;
  };
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Route>> routes_;  // guarded by mu_; never shrinks (cells stay valid)
};

// Failed responses by kind: one counter per fixed kind name, so a scrape always shows every kind (zeros included).
class ErrorTable {
 public:
  // validation, bad_request, unauthorized, forbidden, not_found, too_large, rate_limited, timeout, client_other,
  // script_error, script_timeout, script_heap, store_unavailable, store_error, query_budget, server_error
  static const std::vector<std::string_view>& Kinds();
  // The kind of a failed response by its status alone (4xx/5xx), when nothing more precise is known.
  static std::string_view KindOfStatus(int status);
  void Count(std::string_view kind);  // a name not in Kinds() is ignored
  std::vector<std::pair<std::string_view, std::uint64_t>> Read() const;
  void Collect(std::vector<Family>& out) const;  // dpd_http_errors_total{kind}

 private:
  static constexpr std::size_t kKinds = 16;
  std::array<Counter, kKinds> counters_;
};

// The Prometheus text exposition format (0.0.4) of `families`: # HELP, # TYPE, one line per sample.
std::string RenderPrometheus(const std::vector<Family>& families);

// Helpers for sources.
Family GaugeFamily(std::string name, std::string help, double value);
Family CounterFamily(std::string name, std::string help, double value);
Family HistogramFamily(std::string name, std::string help, const Histogram::Snapshot& s);

}  // namespace dpd::metrics
