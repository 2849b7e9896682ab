#include "server/sources.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "http/server.h"
#include "realtime/hub.h"
#include "script/engine.h"
#include "session/session_store.h"

namespace dpd::server {

json::object StoreStatsJson(const store::StoreStats& stats) {
  json::object out;
  if (stats.pool) {
    out["pool_max"] = stats.pool->max;
    out["pool_in_use"] = stats.pool->in_use;
  }
  if (stats.calls) out["calls"] = *stats.calls;
  if (stats.unavailable) out["unavailable"] = *stats.unavailable;
  return out;
}

void AddSources(metrics::Registry& registry, SourceParts parts) {
  using metrics::CounterFamily;
  using metrics::GaugeFamily;
  registry.AddSource([parts](std::vector<metrics::Family>& out) {
    auto d = [](auto v) { return static_cast<double>(v); };
    const store::StoreStats st = parts.store->Stats();
    if (st.pool) {
      out.push_back(
          GaugeFamily("dpd_store_pool_connections", "Connections the store's pool may open.", d(st.pool->max)));
      out.push_back(GaugeFamily("dpd_store_pool_in_use", "Store connections checked out now.", d(st.pool->in_use)));
    }
    if (st.calls) out.push_back(CounterFamily("dpd_store_calls_total", "Store operations sent.", d(*st.calls)));
    if (st.unavailable) {
      out.push_back(CounterFamily("dpd_store_unavailable_total", "Store operations that found it unreachable.",
                                  d(*st.unavailable)));
    }
    const script::CacheFigures sc = script::CompileCacheFigures();
    out.push_back(
        CounterFamily("dpd_script_cache_hits_total", "Event script calls served by a compiled function.", d(sc.hits)));
    out.push_back(CounterFamily("dpd_script_cache_misses_total", "Event script compilations.", d(sc.misses)));
    out.push_back(CounterFamily("dpd_script_cache_evictions_total", "Compiled functions dropped at the cache bound.",
                                d(sc.evictions)));
    out.push_back(
        GaugeFamily("dpd_script_cache_entries", "Compiled functions held, over every isolate.", d(sc.entries)));
    out.push_back(
        GaugeFamily("dpd_script_isolates", "V8 isolates (one per thread that ran a script).", d(sc.runtimes)));
    out.push_back(GaugeFamily("dpd_sessions_cached", "Sessions in the in-memory cache.", d(parts.sessions->cached())));
    out.push_back(GaugeFamily("dpd_realtime_sockets", "Connected socket.io sockets.", d(parts.hub->sockets())));
    out.push_back(
        GaugeFamily("dpd_realtime_queued_bytes", "Bytes waiting in socket send queues.", d(parts.hub->queued_bytes())));
    // The process: resident memory and open descriptors, read from /proc at the scrape.
    long pages = 0, resident = 0;
    if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
      std::fclose(f);
    }
    out.push_back(GaugeFamily("dpd_process_resident_memory_bytes", "Resident memory of the dpd process.",
                              d(resident) * d(::sysconf(_SC_PAGESIZE))));
    std::error_code ec;
    std::size_t fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++fds;
    }
    out.push_back(GaugeFamily("dpd_process_open_fds", "Open file descriptors of the dpd process.", d(fds)));
    metrics::Family build{
        "dpd_build_info", "The running dpd: 1, with its version as a label.", metrics::Kind::kGauge, {}};
    build.samples.push_back({build.name, "version=\"" + parts.version + "\"", 1});
    out.push_back(std::move(build));
    if (const http::Server* http = parts.http ? parts.http() : nullptr) {
      out.push_back(GaugeFamily("dpd_http_connections", "Open HTTP connections (upgraded ones excluded).",
                                d(http->active_connections())));
    }
  });
}

}  // namespace dpd::server
