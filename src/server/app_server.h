#pragma once
// The composition root: loads the app folder, builds the resources and the router, and serves them over HTTP.
// The request pipeline (spec §3) lives here: reserved /__ endpoints → CORS/OPTIONS → query → POST-only method
// override → body → routing → reply rendering (spec §3.8, §3.9).
//
// Thread-safety: Start/Stop/Wait from one thread; requests are handled concurrently on the HTTP workers.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "http/cors.h"

namespace dpd::server {

struct Options {
  std::filesystem::path app_dir;
  std::string environment = "development";
  std::string host = "127.0.0.1";
  unsigned short port = 2403;
  std::string db;             // store URL: "sqlite:<path>" or "mongodb://…" (empty = data/app.sqlite)
  unsigned threads = 0;       // 0 = one per core
  Limits limits;
  http::CorsOptions cors;
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

  // One line per resource left out at load time (file name and reason).
  const std::vector<std::string>& problems() const;

 private:
  AppServer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpd::server
