#pragma once
// The composition root: opens the store, builds sessions, realtime, the type registry and the first app snapshot
// (server/app_snapshot.h), and serves them over HTTP through the request pipeline (server/pipeline.h). A watcher
// polls the app folder and reloads the snapshot when a config.json or script changes.
//
// Thread-safety: Start/Stop/Wait from one thread; Reload from any; requests run concurrently on the HTTP workers.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "http/client_address.h"
#include "http/cors.h"
#include "server/monitor.h"

namespace dpd::server {

struct Options {
  std::filesystem::path app_dir;
  std::string environment = "development";
  std::string host = "127.0.0.1";
  unsigned short port = 2403;
  std::string db;        // store URL: "sqlite:<path>" or "mongodb://…" (empty = data/app.sqlite)
  std::string bus;       // "redis://host:port/db": several nodes (docs/scaling.md); empty = this node alone
  unsigned threads = 0;  // 0 = one per core
  Limits limits;
  http::CorsOptions cors;
  http::TrustedProxies trusted_proxies;  // --trust-proxy: load balancers whose X-Forwarded-For is believed
  bool metrics_public = false;           // /__metrics without a root key outside development (--metrics-public)
  bool access_log = true;                // one info line per request (--no-access-log turns it off)
  AlertOptions alerts;                   // --alert
  std::string version;                   // the running build, for dpd_build_info
};

// Checks a --db value: "sqlite:<path>" or a mongodb:// / mongodb+srv:// URI.
Status ValidateStoreUrl(const std::string& url);

class AppServer {
 public:
  // Loads the app. Fails when the folder is not an app; problems with single resources are logged and those
  // resources are left out.
  static Result<std::unique_ptr<AppServer>> Create(Options options);
  ~AppServer();

  Status Start();
  unsigned short port() const;
  void Stop();
  void Wait();

  // One line per resource left out of the current snapshot (file name and reason).
  std::vector<std::string> problems() const;
  // Loads the app folder again and swaps in a new snapshot (requests running finish on theirs). Fails only when
  // the folder is no longer an app; resources that cannot be built are left out, as at start-up.
  Status Reload();
  // Whether the store answers now (MongoDB: a ping; the embedded store always does). Blocks the caller until it
  // knows; for the service manager's readiness (`dpd` tells systemd READY only after this succeeds).
  Status StoreReady();

 private:
  AppServer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpd::server
