#include "server/sources.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "http/server.h"
#include "realtime/hub.h"
#include "realtime/redis_bus.h"
#include "script/engine.h"
#include "server/timed_store.h"
#include "session/session_store.h"

namespace dpd::server {
namespace {

double d(auto v) { return static_cast<double>(v); }

std::size_t OpenFds() {
  std::error_code ec;
  std::size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  return fds;
}

metrics::Family Labelled(std::string name, std::string help, metrics::Kind kind,
                         std::vector<std::pair<std::string, double>> samples) {
  metrics::Family f{std::move(name), std::move(help), kind, {}};
  for (auto& [labels, v] : samples) f.samples.push_back({f.name, std::move(labels), v});
  return f;
}

}  // namespace

json::object StoreStatsJson(const store::StoreStats& stats) {
  json::object out;
  if (stats.pool) {
    out["pool_max"] = stats.pool->max;
    out["pool_in_use"] = stats.pool->in_use;
    out["pool_waits"] = stats.pool->waits;
  }
  if (stats.calls) out["calls"] = *stats.calls;
  if (stats.unavailable) out["unavailable"] = *stats.unavailable;
  if (stats.group_commit) {
    out["batches"] = stats.group_commit->batches;
    out["writes"] = stats.group_commit->writes;
    out["largest_batch"] = stats.group_commit->largest;
    out["commit_seconds"] = stats.group_commit->commit_seconds;
  }
  return out;
}

double ResidentBytes() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return d(resident) * d(::sysconf(_SC_PAGESIZE));
}

void AddSources(metrics::Registry& registry, SourceParts parts) {
  using metrics::CounterFamily;
  using metrics::GaugeFamily;
  using metrics::Kind;
  registry.AddSource([parts](std::vector<metrics::Family>& out) {
    // The store.
    const store::StoreStats st = parts.store->Stats();
    if (st.pool) {
      out.push_back(
          GaugeFamily("dpd_store_pool_connections", "Connections the store's pool may open.", d(st.pool->max)));
      out.push_back(GaugeFamily("dpd_store_pool_in_use", "Store connections checked out now.", d(st.pool->in_use)));
      out.push_back(CounterFamily("dpd_store_pool_waits_total",
                                  "Store calls that found every pooled connection in use and waited.",
                                  d(st.pool->waits)));
    }
    if (st.calls) out.push_back(CounterFamily("dpd_store_calls_total", "Store operations sent.", d(*st.calls)));
    if (st.unavailable) {
      out.push_back(CounterFamily("dpd_store_unavailable_total", "Store operations that found it unreachable.",
                                  d(*st.unavailable)));
    }
    if (st.group_commit) {
      const auto& g = *st.group_commit;
      out.push_back(
          CounterFamily("dpd_store_group_commits_total", "SQLite write transactions committed.", d(g.batches)));
      out.push_back(CounterFamily("dpd_store_group_commit_writes_total",
                                  "Writes committed in them (divided by the commits: the mean batch size).",
                                  d(g.writes)));
      out.push_back(GaugeFamily("dpd_store_group_commit_largest", "The largest batch committed so far.", d(g.largest)));
      out.push_back(CounterFamily("dpd_store_commit_seconds_total",
                                  "Time spent in COMMIT and in the log syncs that make commits durable (syncs may "
                                  "overlap).",
                                  g.commit_seconds));
      out.push_back(CounterFamily("dpd_store_log_syncs_total",
                                  "Syncs of the write-ahead log; each answers every commit made before it began.",
                                  d(g.syncs)));
    }
    if (parts.timed) parts.timed->Collect(out);
    // Event scripts.
    const script::CacheFigures sc = script::CompileCacheFigures();
    out.push_back(CounterFamily("dpd_script_calls_total", "Event script runs.", d(sc.calls)));
    out.push_back(CounterFamily("dpd_script_seconds_total",
                                "Time event scripts ran on their threads (not what they waited for).", sc.run_seconds));
    out.push_back(GaugeFamily("dpd_script_heap_bytes", "Used V8 heap over every isolate (sampled every 64 runs).",
                              d(sc.heap_bytes)));
    out.push_back(GaugeFamily("dpd_script_heap_physical_bytes",
                              "Memory V8's heaps hold from the system over every isolate (sampled every 64 runs).",
                              d(sc.heap_physical_bytes)));
    out.push_back(
        CounterFamily("dpd_script_cache_hits_total", "Event script calls served by a compiled function.", d(sc.hits)));
    out.push_back(CounterFamily("dpd_script_cache_misses_total", "Event script compilations.", d(sc.misses)));
    out.push_back(CounterFamily("dpd_script_cache_evictions_total", "Compiled functions dropped at the cache bound.",
                                d(sc.evictions)));
    out.push_back(
        GaugeFamily("dpd_script_cache_entries", "Compiled functions held, over every isolate.", d(sc.entries)));
    out.push_back(
        GaugeFamily("dpd_script_isolates", "V8 isolates (one per thread that ran a script).", d(sc.runtimes)));
    // Resource modules (the Node.js host).
    if (parts.modules != nullptr) {
      const script::NodeHost::Figures mf = parts.modules->figures();
      out.push_back(CounterFamily("dpd_module_requests_total", "Requests handed to the resource-module host.",
                                  d(mf.requests)));
      out.push_back(CounterFamily("dpd_module_timeouts_total",
                                  "Module requests not answered within modules.request_time_ms.", d(mf.timeouts)));
      out.push_back(CounterFamily("dpd_module_restarts_total",
                                  "Restarts of the module host (a loop, its heap limit, process.exit).", d(mf.restarts)));
      out.push_back(GaugeFamily("dpd_module_in_flight", "Module requests waiting for their answer.", d(mf.in_flight)));
      out.push_back(GaugeFamily("dpd_module_heap_bytes", "Used heap of the module host (after its last collection).",
                                d(mf.heap_bytes)));
    }
    // Sessions.
    const session::SessionStore::Figures sf = parts.sessions->figures();
    out.push_back(GaugeFamily("dpd_sessions_cached", "Sessions in the in-memory cache.", d(parts.sessions->cached())));
    out.push_back(CounterFamily("dpd_sessions_created_total", "Sessions created (logins).", d(sf.created)));
    out.push_back(CounterFamily("dpd_sessions_ended_total",
                                "Sessions removed by logout, credential change or user deletion.", d(sf.ended)));
    out.push_back(CounterFamily("dpd_sessions_evicted_total",
                                "Cached sessions dropped at the cache bound (they stay in the store).", d(sf.evicted)));
    out.push_back(
        CounterFamily("dpd_sessions_expired_total", "Cached sessions that expired (max age idle).", d(sf.expired)));
    out.push_back(
        CounterFamily("dpd_sessions_swept_total", "Expired session records removed from the store.", d(sf.swept)));
    out.push_back(CounterFamily("dpd_session_sweep_seconds_total", "Time the store sweeps of expired sessions took.",
                                sf.sweep_seconds));
    // Realtime.
    const realtime::Hub::Figures hf = parts.hub->figures();
    out.push_back(GaugeFamily("dpd_realtime_sockets", "Connected socket.io sockets.", d(parts.hub->sockets())));
    out.push_back(Labelled("dpd_realtime_sockets_by_transport",
                           "Sockets by socket.io generation (EIO 3: socket.io 1-2, EIO 4: 3-4) and transport, as of "
                           "the hub's last tick.",
                           Kind::kGauge,
                           {{"eio=\"3\",transport=\"polling\"", d(hf.polling[0])},
                            {"eio=\"3\",transport=\"websocket\"", d(hf.websocket[0])},
                            {"eio=\"4\",transport=\"polling\"", d(hf.polling[1])},
                            {"eio=\"4\",transport=\"websocket\"", d(hf.websocket[1])}}));
    out.push_back(GaugeFamily("dpd_realtime_rooms", "Rooms with at least one socket.", d(hf.rooms)));
    out.push_back(CounterFamily("dpd_realtime_deliveries_total",
                                "Frames queued to sockets (a broadcast to n sockets counts n).", d(hf.deliveries)));
    out.push_back(CounterFamily("dpd_realtime_dropped_total",
                                "Slow consumers dropped at the per-socket or the global send-queue bound.",
                                d(hf.dropped)));
    out.push_back(
        GaugeFamily("dpd_realtime_queued_bytes", "Bytes waiting in socket send queues.", d(parts.hub->queued_bytes())));
    // The bus of several nodes (--bus).
    if (parts.redis != nullptr) {
      const realtime::RedisBus::Figures bf = parts.redis->figures();
      out.push_back(GaugeFamily("dpd_bus_up", "1 while this node publishes to and hears the Redis bus.", bf.up ? 1 : 0));
      out.push_back(Labelled("dpd_bus_messages_total",
                             "Bus messages: published by this node, received from the others, dropped (queue full "
                             "or Redis down).",
                             Kind::kCounter,
                             {{"direction=\"published\"", d(bf.published)},
                              {"direction=\"received\"", d(bf.received)},
                              {"direction=\"dropped\"", d(bf.dropped)}}));
      out.push_back(CounterFamily("dpd_bus_reconnects_total", "Subscriptions made again after Redis was lost.",
                                  d(bf.reconnects)));
      out.push_back(GaugeFamily("dpd_bus_queued_bytes", "Bytes of messages waiting to be published.",
                                d(bf.queued_bytes)));
    }
    // The process.
    out.push_back(
        GaugeFamily("dpd_process_resident_memory_bytes", "Resident memory of the dpd process.", ResidentBytes()));
    out.push_back(GaugeFamily("dpd_process_open_fds", "Open file descriptors of the dpd process.", d(OpenFds())));
    metrics::Family build{"dpd_build_info", "The running dpd: 1, with its version as a label.", Kind::kGauge, {}};
    build.samples.push_back({build.name, "version=\"" + parts.version + "\"", 1});
    out.push_back(std::move(build));
    if (const http::Server* http = parts.http ? parts.http() : nullptr) {
      out.push_back(GaugeFamily("dpd_http_connections", "Open HTTP connections (upgraded ones excluded).",
                                d(http->active_connections())));
    }
  });
}

json::object FiguresJson(const SourceParts& parts) {
  json::object out;
  out["memory"] = json::object{{"rss", ResidentBytes()}, {"fds", OpenFds()}};
  const session::SessionStore::Figures sf = parts.sessions->figures();
  out["sessions"] = json::object{{"cached", parts.sessions->cached()},
                                 {"created", sf.created},
                                 {"ended", sf.ended},
                                 {"evicted", sf.evicted},
                                 {"expired", sf.expired},
                                 {"swept", sf.swept}};
  const realtime::Hub::Figures hf = parts.hub->figures();
  out["sockets"] = json::object{{"connected", parts.hub->sockets()},
                                {"eio3_polling", hf.polling[0]},
                                {"eio3_websocket", hf.websocket[0]},
                                {"eio4_polling", hf.polling[1]},
                                {"eio4_websocket", hf.websocket[1]},
                                {"rooms", hf.rooms},
                                {"deliveries", hf.deliveries},
                                {"dropped", hf.dropped},
                                {"queued_bytes", parts.hub->queued_bytes()}};
  const script::CacheFigures sc = script::CompileCacheFigures();
  out["script"] = json::object{{"calls", sc.calls},         {"seconds", sc.run_seconds}, {"heap", sc.heap_bytes},
                               {"cache_hits", sc.hits},     {"cache_misses", sc.misses}, {"cache_entries", sc.entries},
                               {"evictions", sc.evictions}, {"isolates", sc.runtimes}};
  out["store"] = StoreStatsJson(parts.store->Stats());
  if (const http::Server* http = parts.http ? parts.http() : nullptr) {
    out["http"] = json::object{{"connections", http->active_connections()}};
  }
  return out;
}

}  // namespace dpd::server
