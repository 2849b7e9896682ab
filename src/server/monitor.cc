#include "server/monitor.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <map>

#include "base/log.h"
#include "server/sources.h"

namespace dpd::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kSlowKept = 20;
constexpr auto kSlowWindow = std::chrono::minutes(10);
constexpr std::size_t kReadings = 61;  // 60 intervals

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What one resource (or all of them) did between two readings.
struct Window {
  std::vector<double> bounds;
  std::vector<std::uint64_t> cumulative;  // per bucket, +Inf last
  std::uint64_t count = 0, client_errors = 0, server_errors = 0;
  double sum = 0;

  void Add(const metrics::RouteTable::Figures& now, const metrics::RouteTable::Figures* before) {
    const auto& h = now.seconds;
    if (bounds.empty()) {
      bounds = h.bounds;
      cumulative.assign(h.cumulative.size(), 0);
    }
    for (std::size_t i = 0; i < h.cumulative.size() && i < cumulative.size(); ++i) {
      cumulative[i] += h.cumulative[i] - (before ? before->seconds.cumulative[i] : 0);
    }
    count += h.count - (before ? before->seconds.count : 0);
    sum += h.sum - (before ? before->seconds.sum : 0);
    client_errors += now.by_class[3] - (before ? before->by_class[3] : 0);
    server_errors += now.by_class[4] - (before ? before->by_class[4] : 0);
  }

  // The q-quantile in milliseconds, interpolated within its bucket (as Prometheus' histogram_quantile does).
  double QuantileMs(double q) const {
    if (count == 0 || cumulative.empty()) return 0;
    const double rank = q * static_cast<double>(count);
    for (std::size_t i = 0; i < cumulative.size(); ++i) {
      if (static_cast<double>(cumulative[i]) < rank) continue;
      if (i >= bounds.size()) return bounds.empty() ? 0 : bounds.back() * 1000;  // beyond the last bound
      const double lower = i == 0 ? 0 : bounds[i - 1], upper = bounds[i];
      const double prev = i == 0 ? 0 : static_cast<double>(cumulative[i - 1]);
      const double in = static_cast<double>(cumulative[i]) - prev;
      return 1000 * (lower + (upper - lower) * (in > 0 ? (rank - prev) / in : 1));
    }
    return bounds.empty() ? 0 : bounds.back() * 1000;
  }

  json::object Json(double seconds) const {
    auto round = [](double v) { return std::round(v * 100) / 100; };
    return json::object{{"count", count},
                        {"rps", round(seconds > 0 ? static_cast<double>(count) / seconds : 0)},
                        {"p50", round(QuantileMs(0.5))},
                        {"p95", round(QuantileMs(0.95))},
                        {"p99", round(QuantileMs(0.99))},
                        {"mean", round(count ? 1000 * sum / static_cast<double>(count) : 0)},
                        {"client_errors", client_errors},
                        {"server_errors", server_errors}};
  }
};

// Requests to the socket.io route are long polls (held up to the ping interval): they would swamp every
// percentile of the app, so the app's figures leave them out (they stay in /__metrics).
bool CountsForApp(const std::string& resource) { return resource != "socket.io"; }

const metrics::RouteTable::Figures* Find(const std::vector<metrics::RouteTable::Figures>& in,
                                         const metrics::RouteTable::Figures& f) {
  for (const auto& g : in) {
    if (g.resource == f.resource && g.method == f.method) return &g;
  }
  return nullptr;
}

// Per resource and for the whole app, between `before` (null: since start) and `now`.
std::pair<Window, std::map<std::string, Window>> Between(const std::vector<metrics::RouteTable::Figures>& now,
                                                         const std::vector<metrics::RouteTable::Figures>* before) {
  Window all;
  std::map<std::string, Window> by;
  for (const auto& f : now) {
    if (!CountsForApp(f.resource)) continue;
    const metrics::RouteTable::Figures* b = before ? Find(*before, f) : nullptr;
    all.Add(f, b);
    by[f.resource].Add(f, b);
  }
  return {std::move(all), std::move(by)};
}

std::optional<double> ParseNumber(std::string_view v) {
  double out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size() || !(out >= 0)) return std::nullopt;
  return out;
}

}  // namespace

Status SetAlert(AlertOptions& alerts, std::string_view spec) {
  const auto eq = spec.find('=');
  const std::string_view name = spec.substr(0, eq);
  const std::optional<double> v = eq == std::string_view::npos ? std::nullopt : ParseNumber(spec.substr(eq + 1));
  if (!v) {
    return Status::BadRequest("alert " + std::string(spec) +
                              ": expected name=number (p99_ms, error_rate, rss_bytes, "
                              "interval_s)");
  }
  if (name == "p99_ms") {
    alerts.p99_ms = *v;
  } else if (name == "error_rate" && *v <= 1) {
    alerts.error_rate = *v;
  } else if (name == "rss_bytes") {
    alerts.rss_bytes = *v;
  } else if (name == "interval_s" && *v >= 1) {
    alerts.interval = std::chrono::seconds(static_cast<std::int64_t>(*v));
  } else {
    return Status::BadRequest("unknown alert \"" + std::string(spec) +
                              "\" (p99_ms, error_rate between 0 and 1, rss_bytes, interval_s ≥ 1)");
  }
  return Status::Ok();
}

Monitor::Monitor(Parts parts)
    : parts_(std::move(parts)), lag_(std::make_shared<std::vector<std::atomic<double>>>(parts_.workers)) {
  auto add = [this](const char* name, const std::optional<double>& t) {
    if (t) alerts_.push_back(Alert{name, *t, 0, false, {}});
  };
  add("p99_ms", parts_.alerts.p99_ms);
  add("error_rate", parts_.alerts.error_rate);
  add("rss_bytes", parts_.alerts.rss_bytes);
}

Monitor::~Monitor() { Stop(); }

void Monitor::Start() {
  Tick();
  thread_ = std::thread([this] { Loop(); });
}

void Monitor::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Monitor::Loop() {
  auto next = Clock::now();
  for (;;) {
    next += std::chrono::seconds(1);
    {
      std::unique_lock lock(stop_mu_);
      if (stop_cv_.wait_until(lock, next, [this] { return stop_; })) return;
    }
    try {
      Tick();
    } catch (const std::exception& e) {
      spdlog::error("monitor tick failed error={}", LogQuote(e.what()));
    }
  }
}

void Monitor::Observe(const SlowRequest& r) {
  if (r.ms <= keep_above_ms()) return;
  std::lock_guard lock(mu_);
  slowest_.push_back(r);
  std::sort(slowest_.begin(), slowest_.end(), [](const auto& a, const auto& b) { return a.ms > b.ms; });
  if (slowest_.size() > kSlowKept) slowest_.resize(kSlowKept);
  keep_above_ms_.store(slowest_.size() == kSlowKept ? slowest_.back().ms : 0, std::memory_order_relaxed);
}

void Monitor::Tick() {
  const auto now = Clock::now();
  Reading reading{now, parts_.routes->Read(), parts_.errors->Read()};
  // Each worker's lag: how late a job posted now runs there.
  if (parts_.post) {
    auto posted = std::make_shared<Clock::time_point>(now);
    parts_.post([posted, lag = lag_](unsigned w) {
      if (w < lag->size()) (*lag)[w].store(std::chrono::duration<double>(Clock::now() - *posted).count());
    });
  }
  const double rss = ResidentBytes();
  std::vector<Alert> warnings;  // copies, logged outside the lock
  {
    std::lock_guard lock(mu_);
    seconds_.push_back(reading);
    if (seconds_.size() > kReadings) seconds_.pop_front();
    if (minutes_.empty() || now - minutes_.back().at >= std::chrono::minutes(1)) {
      minutes_.push_back(std::move(reading));
      if (minutes_.size() > kReadings) minutes_.pop_front();
    }
    // The slowest list forgets what is older than its window.
    const std::int64_t oldest = WallMs() - std::chrono::duration_cast<std::chrono::milliseconds>(kSlowWindow).count();
    std::erase_if(slowest_, [oldest](const SlowRequest& r) { return r.at_ms < oldest; });
    keep_above_ms_.store(slowest_.size() == kSlowKept ? slowest_.back().ms : 0, std::memory_order_relaxed);
    // Alerts, over the last minute.
    if (!alerts_.empty()) {
      auto [minute, by] = Between(seconds_.back().routes, seconds_.size() > 1 ? &seconds_.front().routes : nullptr);
      for (Alert& a : alerts_) {
        if (a.name == "p99_ms") {
          a.value = minute.QuantileMs(0.99);
        } else if (a.name == "error_rate") {
          a.value = minute.count ? static_cast<double>(minute.server_errors) / static_cast<double>(minute.count) : 0;
        } else {
          a.value = rss;
        }
        const bool was = a.active;
        a.active = a.value > a.threshold;
        if (a.active && (!was || now - a.logged >= parts_.alerts.interval)) {
          a.logged = now;
          warnings.push_back(a);
        }
        if (!a.active && was)
          spdlog::info("alert cleared name={} value={:.4g} threshold={:.4g}", a.name, a.value, a.threshold);
      }
    }
  }
  for (const Alert& a : warnings) {
    spdlog::warn("alert active name={} value={:.4g} threshold={:.4g} (over the last minute)", a.name, a.value,
                 a.threshold);
  }
  if (parts_.send && (!parts_.watched || parts_.watched())) parts_.send(Frame());
}

json::object Monitor::Frame() const {
  std::lock_guard lock(mu_);
  json::object out;
  out["t"] = WallMs();
  if (seconds_.empty()) return out;
  const Reading& last = seconds_.back();
  auto span = [](const Reading& a, const Reading& b) { return std::chrono::duration<double>(b.at - a.at).count(); };
  // The last minute and the last hour (as much of them as the server has been up).
  const Reading* minute_start = seconds_.size() > 1 ? &seconds_.front() : nullptr;
  const Reading* hour_start = minutes_.size() > 1 ? &minutes_.front() : minute_start;
  if (hour_start && minute_start && hour_start->at > minute_start->at) hour_start = minute_start;
  const double minute_s = minute_start ? span(*minute_start, last) : 0;
  const double hour_s = hour_start ? span(*hour_start, last) : 0;
  auto [m_all, m_by] = Between(last.routes, minute_start ? &minute_start->routes : nullptr);
  auto [h_all, h_by] = Between(last.routes, hour_start ? &hour_start->routes : nullptr);
  out["overall"] = json::object{{"minute", m_all.Json(minute_s)}, {"hour", h_all.Json(hour_s)}};
  out["window"] = json::object{{"minute", minute_s}, {"hour", hour_s}};
  json::array resources;
  std::vector<std::pair<std::uint64_t, std::string>> order;
  for (const auto& [name, w] : h_by) order.emplace_back(m_by.count(name) ? m_by.at(name).count : 0, name);
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  for (const auto& [n, name] : order) {
    json::object r{{"name", name}, {"hour", h_by.at(name).Json(hour_s)}};
    r["minute"] = m_by.count(name) ? m_by.at(name).Json(minute_s) : Window{}.Json(minute_s);
    resources.push_back(std::move(r));
  }
  out["resources"] = std::move(resources);
  // Errors by kind over the minute and the hour.
  auto kinds = [&last](const Reading* start) {
    json::object o;
    for (std::size_t i = 0; i < last.errors.size(); ++i) {
      const std::uint64_t n = last.errors[i].second - (start ? start->errors[i].second : 0);
      if (n > 0) o[last.errors[i].first] = n;
    }
    return o;
  };
  out["errors"] = json::object{{"minute", kinds(minute_start)}, {"hour", kinds(hour_start)}};
  // Series: per second over the minute, per minute over the hour.
  auto series = [&span](const std::deque<Reading>& rs) {
    json::array a;
    for (std::size_t i = 1; i < rs.size(); ++i) {
      auto [w, by] = Between(rs[i].routes, &rs[i - 1].routes);
      const double s = span(rs[i - 1], rs[i]);
      a.push_back(json::object{{"ago", std::round(span(rs[i], rs.back()))},
                               {"rps", s > 0 ? std::round(100 * static_cast<double>(w.count) / s) / 100 : 0},
                               {"p50", std::round(100 * w.QuantileMs(0.5)) / 100},
                               {"p99", std::round(100 * w.QuantileMs(0.99)) / 100},
                               {"errors", w.client_errors + w.server_errors}});
    }
    return a;
  };
  out["series"] = series(seconds_);
  out["hourly"] = series(minutes_);
  json::array slow;
  for (const SlowRequest& r : slowest_) {
    slow.push_back(json::object{{"method", r.method},
                                {"path", r.path},
                                {"resource", r.resource},
                                {"status", r.status},
                                {"ms", std::round(r.ms * 100) / 100},
                                {"script_ms", std::round(r.script_ms * 100) / 100},
                                {"store_ms", std::round(r.store_ms * 100) / 100},
                                {"other_ms", std::round(std::max(0.0, r.ms - r.script_ms - r.store_ms) * 100) / 100},
                                {"at", r.at_ms}});
  }
  out["slowest"] = std::move(slow);
  json::array alerts;
  for (const Alert& a : alerts_) {
    alerts.push_back(
        json::object{{"name", a.name}, {"threshold", a.threshold}, {"value", a.value}, {"active", a.active}});
  }
  out["alerts"] = std::move(alerts);
  json::array lag;
  for (const auto& l : *lag_) lag.push_back(std::round(l.load() * 1e5) / 100);
  out["lag_ms"] = std::move(lag);
  if (parts_.figures) out["figures"] = parts_.figures();
  return out;
}

void Monitor::Collect(std::vector<metrics::Family>& out) const {
  metrics::Family active{
      "dpd_alert_active", "1 while an alert threshold (--alert) is crossed.", metrics::Kind::kGauge, {}};
  metrics::Family lag{"dpd_event_loop_lag_seconds",
                      "How late a job posted to each HTTP worker ran, measured once a second.",
                      metrics::Kind::kGauge,
                      {}};
  {
    std::lock_guard lock(mu_);
    for (const Alert& a : alerts_) {
      active.samples.push_back({active.name, "name=\"" + a.name + "\"", a.active ? 1.0 : 0.0});
    }
  }
  for (std::size_t i = 0; i < lag_->size(); ++i) {
    lag.samples.push_back({lag.name, "worker=\"" + std::to_string(i) + "\"", (*lag_)[i].load()});
  }
  out.push_back(std::move(active));
  out.push_back(std::move(lag));
}

}  // namespace dpd::server
