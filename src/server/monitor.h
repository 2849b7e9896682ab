#pragma once
// The live side of the metrics: once a second it reads the route table and the error kinds, keeps the last minute
// (a read per second) and the last hour (a read per minute), and from them
//   * the Performance page's frame — requests/s, p50/p95/p99 per resource over the minute and the hour, errors by
//     kind, memory, sessions, sockets, script cache, store — sent as the socket.io event "dpd:perf" to the watcher
//     sockets (root dashboards) over the realtime server;
//   * the alert thresholds (--alert): crossing one logs a warning once per interval and shows as
//     dpd_alert_active{name};
//   * each worker's event-loop lag (a job posted to it every second: how late it ran).
// The request path only calls Observe, which takes a lock only for a request slower than the slowest few kept.
//
// Thread-safety: Observe from any worker; the rest from the monitor's own thread, Collect from any.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "json/json.h"
#include "metrics/metrics.h"

namespace dpd::server {

struct AlertOptions {
  std::optional<double> p99_ms;       // p99 of the app's requests over the last minute, in milliseconds
  std::optional<double> error_rate;   // share of the last minute's responses that were 5xx (0…1)
  std::optional<double> rss_bytes;    // resident memory
  std::chrono::seconds interval{60};  // an active alert is logged again after this long
};
// One `--alert name=value` (p99_ms, error_rate, rss_bytes, interval_s) into `alerts`; BadRequest otherwise.
Status SetAlert(AlertOptions& alerts, std::string_view spec);

struct SlowRequest {
  std::string method;
  std::string path;  // without the query
  std::string resource;
  int status = 0;
  double ms = 0, script_ms = 0, store_ms = 0;  // the rest of ms is queueing and dpd's own work
  std::int64_t at_ms = 0;                      // wall clock
};

class Monitor {
 public:
  struct Parts {
    const metrics::RouteTable* routes = nullptr;
    const metrics::ErrorTable* errors = nullptr;
    std::function<json::object()> figures;                    // gauges: memory, sessions, sockets, …
    std::function<void(const json::value&)> send;             // the frame to the watchers
    std::function<bool()> watched;                            // someone watches: build the frame (null: always)
    std::function<void(std::function<void(unsigned)>)> post;  // a job on every worker (lag); may be null
    unsigned workers = 0;
    AlertOptions alerts;
  };
  explicit Monitor(Parts parts);
  ~Monitor();
  void Start();
  void Stop();

  // Every answered request: kept among the slowest of the last ten minutes when it is one of them.
  void Observe(const SlowRequest& r);
  // Only a request slower than this can be kept (a relaxed read on the request path).
  double keep_above_ms() const { return keep_above_ms_.load(std::memory_order_relaxed); }

  // dpd_alert_active{name}, dpd_event_loop_lag_seconds{worker}.
  void Collect(std::vector<metrics::Family>& out) const;
  // The Performance page's frame now (also what a tick sends).
  json::object Frame() const;
  // One tick's work, for tests: read, evaluate alerts, send.
  void Tick();

 private:
  struct Reading {
    std::chrono::steady_clock::time_point at;
    std::vector<metrics::RouteTable::Figures> routes;
    std::vector<std::pair<std::string_view, std::uint64_t>> errors;
  };
  void Loop();

  Parts parts_;
  mutable std::mutex mu_;
  std::deque<Reading> seconds_;  // the last 61 readings, one a second (guarded by mu_)
  std::deque<Reading> minutes_;  // the last 61, one a minute
  struct Alert {
    std::string name;
    double threshold = 0, value = 0;
    bool active = false;
    std::chrono::steady_clock::time_point logged{};
  };
  std::vector<Alert> alerts_;         // guarded by mu_
  std::vector<SlowRequest> slowest_;  // guarded by mu_; at most kSlowKept, slowest first
  std::atomic<double> keep_above_ms_{0};
  // Per worker, seconds; shared with the jobs posted to the workers (one may run after the monitor is gone).
  std::shared_ptr<std::vector<std::atomic<double>>> lag_;
  std::thread thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
};

}  // namespace dpd::server
