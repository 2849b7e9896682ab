#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_map>

namespace dpd::metrics {
namespace {

std::atomic<std::size_t> next_slot{0};

std::string FormatBound(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", b);
  return buf;
}

}  // namespace

std::size_t ThisThreadSlot() {
  thread_local const std::size_t slot = next_slot.fetch_add(1, std::memory_order_relaxed) % kSlots;
  return slot;
}

std::uint64_t Counter::Value() const {
  std::uint64_t sum = 0;
  for (const auto& c : cells_) sum += c.v.load(std::memory_order_relaxed);
  return sum;
}

std::vector<double> Histogram::LatencyBounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), cells_(new Cell[kSlots]) {
  std::sort(bounds_.begin(), bounds_.end());
  if (bounds_.size() > kMaxBuckets) bounds_.resize(kMaxBuckets);
}

void Histogram::Observe(double v) {
  Cell& c = cells_[ThisThreadSlot()];
  const std::size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();  // first bound ≥ v
  c.buckets[i].fetch_add(1, std::memory_order_relaxed);
  c.sum.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  std::vector<std::uint64_t> counts(bounds_.size() + 1, 0);
  for (std::size_t t = 0; t < kSlots; ++t) {
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += cells_[t].buckets[i].load(std::memory_order_relaxed);
    s.sum += cells_[t].sum.load(std::memory_order_relaxed);
  }
  std::uint64_t running = 0;
  for (auto n : counts) s.cumulative.push_back(running += n);
  s.count = running;
  return s;
}

std::string Registry::HealthJson() const {
  auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  return "{\"status\":\"ok\",\"uptimeSeconds\":" + std::to_string(up) + ",\"requests\":" + std::to_string(requests()) +
         "}";
}

void Registry::AddSource(Source source) {
  std::lock_guard lock(sources_mu_);
  sources_.push_back(std::move(source));
}

std::vector<Family> Registry::Collect() const {
  std::vector<Family> out;
  const double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  out.push_back(GaugeFamily("dpd_uptime_seconds", "Seconds since the server started.", up));
  Family responses{"dpd_http_responses_total", "HTTP responses by status class.", Kind::kCounter, {}};
  const double all = static_cast<double>(requests()), e4 = static_cast<double>(errors_4xx()),
               e5 = static_cast<double>(errors_5xx());
  responses.samples.push_back({responses.name, "class=\"2xx_3xx\"", all - e4 - e5});
  responses.samples.push_back({responses.name, "class=\"4xx\"", e4});
  responses.samples.push_back({responses.name, "class=\"5xx\"", e5});
  out.push_back(std::move(responses));
  std::vector<Source> sources;
  {
    std::lock_guard lock(sources_mu_);
    sources = sources_;
  }
  for (const auto& s : sources) s(out);
  return out;
}

std::size_t RouteTable::MethodIndex(std::string_view m) {
  if (m == "GET" || m == "HEAD") return 0;
  if (m == "POST") return 1;
  if (m == "PUT") return 2;
  if (m == "DELETE") return 3;
  return 4;
}

RouteTable::Cells& RouteTable::For(std::string_view resource, std::string_view method) {
  const std::size_t mi = MethodIndex(method);
  // Per thread: resource name → cells of each method. Keyed by table so several tables (tests) do not mix.
  struct Key {
    const RouteTable* table;
    std::string resource;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return std::hash<std::string>{}(k.resource) ^ std::hash<const void*>{}(k.table);
    }
  };
  thread_local std::unordered_map<Key, std::array<Cells*, 5>, KeyHash> cache;
  thread_local Key probe;
  probe.table = this;
  probe.resource.assign(resource);  // reuses the thread's buffer: no allocation once it is large enough
  auto it = cache.find(probe);
  if (it != cache.end() && it->second[mi] != nullptr) return *it->second[mi];
  std::lock_guard lock(mu_);
  Cells* cells = nullptr;
  for (const auto& r : routes_) {
    if (r->method == mi && r->resource == resource) cells = &r->cells;
  }
  if (cells == nullptr) {
    auto route = std::make_unique<Route>();
    route->resource = std::string(resource);
    route->method = mi;
    routes_.push_back(std::move(route));
    cells = &routes_.back()->cells;
  }
  auto& slot = cache[probe];
  slot[mi] = cells;
  return *cells;
}

void RouteTable::Observe(std::string_view resource, std::string_view method, int status, double seconds) {
  Cells& c = For(resource, method);
  const int cls = status / 100;
  c.by_class[cls >= 1 && cls <= 5 ? cls - 1 : 4].Add();
  c.seconds.Observe(seconds);
}

namespace {
std::string LabelValue(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}
}  // namespace

void RouteTable::Collect(std::vector<Family>& out) const {
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "OTHER"};
  Family requests{
      "dpd_http_requests_total", "HTTP responses by resource, method and status class.", Kind::kCounter, {}};
  Family seconds{"dpd_http_request_duration_seconds",
                 "Time from a request's arrival to its response, by resource and method.",
                 Kind::kHistogram,
                 {}};
  std::lock_guard lock(mu_);
  for (const auto& r : routes_) {
    const std::string base = "resource=\"" + LabelValue(r->resource) + "\",method=\"" + kMethods[r->method] + "\"";
    for (int c = 0; c < 5; ++c) {
      const std::uint64_t n = r->cells.by_class[c].Value();
      if (n > 0)
        requests.samples.push_back({requests.name, base + ",class=\"" + std::to_string(c + 1) + "xx\"", double(n)});
    }
    Family h = HistogramFamily(seconds.name, "", r->cells.seconds.Read());
    for (auto& s : h.samples) {
      s.labels = s.labels.empty() ? base : base + "," + s.labels;
      seconds.samples.push_back(std::move(s));
    }
  }
  out.push_back(std::move(requests));
  out.push_back(std::move(seconds));
}

std::vector<RouteTable::Figures> RouteTable::Read() const {
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "OTHER"};
  std::vector<Figures> out;
  std::lock_guard lock(mu_);
  out.reserve(routes_.size());
  for (const auto& r : routes_) {
    Figures f;
    f.resource = r->resource;
    f.method = kMethods[r->method];
    for (int c = 0; c < 5; ++c) f.by_class[c] = r->cells.by_class[c].Value();
    f.seconds = r->cells.seconds.Read();
    out.push_back(std::move(f));
  }
  return out;
}

const std::vector<std::string_view>& ErrorTable::Kinds() {
  static const std::vector<std::string_view> kinds = {
      "validation",        "bad_request", "unauthorized", "forbidden",    "not_found",      "too_large",
      "rate_limited",      "timeout",     "client_other", "script_error", "script_timeout", "script_heap",
      "store_unavailable", "store_error", "query_budget", "server_error"};
  return kinds;
}

std::string_view ErrorTable::KindOfStatus(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 408: return "timeout";
    case 413:
    case 414:
    case 431: return "too_large";
    case 429: return "rate_limited";
    default: return status >= 500 ? "server_error" : "client_other";
  }
}

void ErrorTable::Count(std::string_view kind) {
  const auto& kinds = Kinds();
  for (std::size_t i = 0; i < kinds.size() && i < kKinds; ++i) {
    if (kinds[i] == kind) {
      counters_[i].Add();
      return;
    }
  }
}

std::vector<std::pair<std::string_view, std::uint64_t>> ErrorTable::Read() const {
  std::vector<std::pair<std::string_view, std::uint64_t>> out;
  const auto& kinds = Kinds();
  for (std::size_t i = 0; i < kinds.size() && i < kKinds; ++i) out.emplace_back(kinds[i], counters_[i].Value());
  return out;
}

void ErrorTable::Collect(std::vector<Family>& out) const {
  Family f{"dpd_http_errors_total", "Failed responses (4xx and 5xx) by kind.", Kind::kCounter, {}};
  for (const auto& [kind, n] : Read()) {
    f.samples.push_back({f.name, "kind=\"" + std::string(kind) + "\"", static_cast<double>(n)});
  }
  out.push_back(std::move(f));
}

std::string RenderPrometheus(const std::vector<Family>& families) {
  std::string out;
  char num[64];
  for (const auto& f : families) {
    out += "# HELP " + f.name + " " + f.help + "\n";
    out += "# TYPE " + f.name + " " +
           (f.kind == Kind::kCounter     ? "counter"
            : f.kind == Kind::kHistogram ? "histogram"
                                         : "gauge") +
           "\n";
    for (const auto& s : f.samples) {
      out += s.name;
      if (!s.labels.empty()) out += "{" + s.labels + "}";
      // The shortest text that reads back as the same double ("0.5", "12", "1e-05").
      auto [end, ec] = std::to_chars(num, num + sizeof num, s.value);
      out += ' ';
      out.append(num, ec == std::errc() ? end : num);
      out += '\n';
    }
  }
  return out;
}

Family GaugeFamily(std::string name, std::string help, double value) {
  Family f{std::move(name), std::move(help), Kind::kGauge, {}};
  f.samples.push_back({f.name, "", value});
  return f;
}

Family CounterFamily(std::string name, std::string help, double value) {
  Family f{std::move(name), std::move(help), Kind::kCounter, {}};
  f.samples.push_back({f.name, "", value});
  return f;
}

Family HistogramFamily(std::string name, std::string help, const Histogram::Snapshot& s) {
  Family f{std::move(name), std::move(help), Kind::kHistogram, {}};
  for (std::size_t i = 0; i < s.bounds.size(); ++i) {
    f.samples.push_back(
        {f.name + "_bucket", "le=\"" + FormatBound(s.bounds[i]) + "\"", static_cast<double>(s.cumulative[i])});
  }
  f.samples.push_back({f.name + "_bucket", "le=\"+Inf\"", static_cast<double>(s.count)});
  f.samples.push_back({f.name + "_sum", "", s.sum});
  f.samples.push_back({f.name + "_count", "", static_cast<double>(s.count)});
  return f;
}

}  // namespace dpd::metrics
