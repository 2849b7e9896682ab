// The `dpd` command (spec/deployd-1.2.md §14, adapted): create, run (default), keygen, showkey, export, import.
// Exit codes: 0 success, 1 usage or app problems (no app folder, bad flag values, port in use),
// CLI11's own codes for parse errors (printed with --help hints).

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <atomic>
#include <chrono>
#include <thread>

#include "base/log.h"
#include "config/app.h"
#include "config/keys.h"
#include "server/app_server.h"
#include "cli/systemd.h"
#include "server/transfer.h"

namespace {
namespace fs = std::filesystem;

constexpr const char* kVersion = DPD_VERSION;  // the project version of CMakeLists.txt
constexpr const char* kKeysFile = ".dpd/keys.json";

struct RunArgs {
  std::string app;
  int port = 2403;
  std::string environment;
  std::string host;
  std::string db;
  std::string bus;
  std::vector<std::string> trust_proxy;
  unsigned threads = 0;
  std::string log_level = "info";
  std::vector<std::string> cors_origins;
  std::vector<std::string> limits;
  bool show_limits = false;
  bool port_given = false;
  bool open_dashboard = false;  // -d: the dashboard in the user's browser once serving
  bool open_app = false;        // -o: the app itself
  bool metrics_public = false;  // --metrics-public
  std::string log_format = "text";
  bool no_access_log = false;
  std::vector<std::string> alerts;
};

// Opens `url` with xdg-open when the machine has it (a desktop); otherwise says where to go.
void OpenInBrowser(const std::string& url) {
  const char* path = std::getenv("PATH");
  bool found = false;
  for (std::string_view dirs = path ? path : ""; !dirs.empty() && !found;) {
    std::string_view dir = dirs.substr(0, dirs.find(':'));
    dirs.remove_prefix(std::min(dirs.size(), dir.size() + 1));
    found = !dir.empty() && ::access((std::string(dir) + "/xdg-open").c_str(), X_OK) == 0;
  }
  if (found) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const char* argv[] = {"xdg-open", url.c_str(), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, "xdg-open", &actions, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc == 0) {
      std::thread([pid] { ::waitpid(pid, nullptr, 0); }).detach();  // no zombie
      return;
    }
  }
  std::cout << "open " << url << " in your browser" << std::endl;
}

void AddRunOptions(CLI::App* app, RunArgs& args) {
  app->add_option("app", args.app, "app folder or path to its app.dpd (default: current folder)");
  app->add_option("-p,--port", args.port, "HTTP port (default 2403; 0 = any free port)")->check(CLI::Range(0, 65535));
  app->add_option("-e,--environment", args.environment, "environment (default $DPD_ENV or development)");
  app->add_option("--host", args.host, "listen address (default 127.0.0.1 in development, 0.0.0.0 otherwise)");
  app->add_option("--db", args.db, "store URL: sqlite:<path> (default sqlite:data/app.sqlite) or mongodb://...");
  app->add_option("--bus", args.bus,
                  "redis://host:port/db: several nodes share emits, sessions and configuration (also \"bus\" in "
                  "app.dpd; docs/scaling.md)");
  app->add_option("--trust-proxy", args.trust_proxy,
                  "load balancers (IP addresses) whose X-Forwarded-For names the client: per-address limits and "
                  "logs use the client's address (docs/scaling.md)")
      ->delimiter(',');
  app->add_option("--threads", args.threads, "worker threads (default: one per core)");
  app->add_option("--log-level", args.log_level, "trace|debug|info|warn|error|off (debug logs every request)");
  app->add_option("--cors-origins", args.cors_origins,
                  "origins allowed to make credentialed cross-origin requests (default: any, as Deployd)")
      ->delimiter(',');
  app->add_option("--limit", args.limits, "set a limit, e.g. --limit http.body_bytes=2097152 (see --show-limits)");
  app->add_flag("--show-limits", args.show_limits, "print every limit with its value and exit");
  app->add_flag("-d,--dashboard", args.open_dashboard, "open the dashboard in the browser once serving");
  app->add_flag("-o,--open", args.open_app, "open the app in the browser once serving");
  app->add_option("--log-format", args.log_format, "text (key=value lines, default) or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  app->add_flag("--no-access-log", args.no_access_log, "no log line per request (slow requests and 5xx still logged)");
  app->add_option("--alert", args.alerts,
                  "alert threshold, e.g. --alert p99_ms=250 --alert error_rate=0.01 --alert rss_bytes=1e9 "
                  "(interval_s=N: how often an active alert is logged again; also \"alerts\" in app.dpd)");
  app->add_flag("--metrics-public", args.metrics_public,
                "serve /__metrics without a root key outside development (for a scraper on a private network)");
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

int Run(RunArgs args) {
  dpd::Limits limits;
  for (const auto& item : args.limits) {
    std::size_t eq = item.find('=');
    dpd::Status s = eq == std::string::npos ? dpd::Status::BadRequest("--limit takes name=value, got \"" + item + "\"")
                                            : dpd::SetLimit(limits, item.substr(0, eq), item.substr(eq + 1));
    if (!s.ok()) {
      std::cerr << s.message() << "\n";
      return 1;
    }
  }
  if (args.show_limits) {
    for (const auto& line : dpd::DescribeLimits(limits)) std::cout << line << "\n";
    return 0;
  }
  fs::path dir = args.app.empty() ? fs::current_path() : fs::path(args.app);
  if (dir.filename() == "app.dpd") dir = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  if (!dpd::config::IsAppFolder(dir)) {
    std::cerr << "This directory does not contain a Deployd app!\n"
              << "  (" << fs::absolute(dir).string() << " has no app.dpd)\n"
              << "Use \"dpd create <name>\" to create a new app\n"
              << "or use \"dpd <path to app.dpd>\" to start an app in another directory\n";
    return 1;
  }
  std::error_code ec;
  fs::current_path(dir, ec);  // Deployd resolves public/ and .dpd/ from the app folder
  if (ec) {
    std::cerr << "cannot enter " << dir << ": " << ec.message() << "\n";
    return 1;
  }
  fs::create_directories(".dpd", ec);
  fs::create_directories("data", ec);

  if (args.environment.empty()) {
    const char* env = std::getenv("DPD_ENV");
    args.environment = env && *env ? env : "development";
  }
  const bool development = args.environment == "development";
  if (args.host.empty()) args.host = development ? "127.0.0.1" : "0.0.0.0";
  if (development && !IsLoopback(args.host)) {
    spdlog::warn(
        "development mode on a non-loopback address ({}): root requests need a key of .dpd/keys.json "
        "(dpd keygen), as in production",
        args.host);
  }
  if (!development && args.cors_origins.empty()) {
    spdlog::warn("CORS: every origin may make credentialed requests; restrict with --cors-origins");
  }

  dpd::server::Options options;
  options.app_dir = fs::current_path();
  options.environment = args.environment;
  options.host = args.host;
  options.metrics_public = args.metrics_public;
  options.access_log = !args.no_access_log;
  {
    auto from_app = dpd::config::AppAlerts(options.app_dir);
    if (!from_app.ok()) {
      std::cerr << from_app.status().message() << "\n";
      return 1;
    }
    std::vector<std::string> alerts = std::move(*from_app);  // the command line's come after: they win
    alerts.insert(alerts.end(), args.alerts.begin(), args.alerts.end());
    for (const auto& a : alerts) {
      if (dpd::Status s = dpd::server::SetAlert(options.alerts, a); !s.ok()) {
        std::cerr << s.message() << "\n";
        return 1;
      }
    }
  }
  options.version = kVersion;
  options.db = args.db;
  options.bus = args.bus;
  if (options.bus.empty()) {
    auto from_app = dpd::config::AppBus(options.app_dir);
    if (!from_app.ok()) {
      std::cerr << from_app.status().message() << "\n";
      return 1;
    }
    options.bus = std::move(*from_app);
  }
  {
    auto proxies = dpd::http::TrustedProxies::Parse(args.trust_proxy);
    if (!proxies.ok()) {
      std::cerr << proxies.status().message() << "\n";
      return 1;
    }
    options.trusted_proxies = std::move(*proxies);
  }
  options.threads = args.threads;
  options.limits = limits;
  options.cors.origins = args.cors_origins;

  // Signals are taken by this thread only (sigwait below); the workers inherit the blocked mask.
  // SIGINT/SIGTERM stop gracefully; SIGHUP reloads the app folder (config.json files and event scripts).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<dpd::server::AppServer> server;
  // In development with the default port, a busy port moves on to the next one (up to 5 tries), as Deployd's CLI.
  const int attempts = (development && !args.port_given) ? 6 : 1;
  dpd::Status started;
  for (int i = 0; i < attempts; ++i) {
    options.port = static_cast<unsigned short>(args.port + i);
    auto created = dpd::server::AppServer::Create(options);
    if (!created.ok()) {
      std::cerr << created.status().message() << "\n";
      return 1;
    }
    server = std::move(*created);
    started = server->Start();
    if (started.ok()) break;
    spdlog::warn("{}", started.message());
  }
  if (!started.ok()) {
    std::cerr << started.message() << "\n";
    return 1;
  }
  std::cout << "listening on port " << server->port() << std::endl;
  const std::string shown_host = options.host == "0.0.0.0" || options.host == "::" ? "127.0.0.1"
                                 : options.host.find(':') != std::string::npos     ? "[" + options.host + "]"
                                                                                   : options.host;
  const std::string base = "http://" + shown_host + ":" + std::to_string(server->port());
  std::cout << "app:       " << base << "/\n"
            << "dashboard: " << base << "/dashboard/" << std::endl;
  if (args.open_dashboard) OpenInBrowser(base + "/dashboard/");
  if (args.open_app) OpenInBrowser(base + "/");

  // systemd (Type=notify) hears READY once the store answers: a MongoDB that is not up yet keeps the unit
  // "activating" (and its start timeout running) instead of passing for started. Checked on a thread of its own,
  // so a stop signal is taken at once whatever the store does.
  std::atomic<bool> stopping{false};
  std::thread readiness([&server, &stopping] {
    for (int tries = 0; !stopping.load(); ++tries) {
      dpd::Status ready = server->StoreReady();
      if (ready.ok()) {
        dpd::cli::NotifyServiceManager("READY=1\nSTATUS=serving on port " + std::to_string(server->port()));
        return;
      }
      if (tries == 0) spdlog::warn("the store does not answer yet ({}); retrying every second", ready.message());
      dpd::cli::NotifyServiceManager("STATUS=waiting for the store: " + ready.message());
      for (int i = 0; i < 10 && !stopping.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    dpd::cli::NotifyServiceManager("RELOADING=1\n" + std::string(dpd::cli::MonotonicField()));
    spdlog::info("signal=SIGHUP reloading the app folder");
    if (dpd::Status s = server->Reload(); !s.ok()) spdlog::error("reload failed: {}", s.message());
    for (const auto& problem : server->problems()) spdlog::warn("left out: {}", problem);
    dpd::cli::NotifyServiceManager("READY=1");
  }
  dpd::cli::NotifyServiceManager("STOPPING=1");
  spdlog::info("signal={} stopping: no new connections, finishing in-flight requests", sig);
  stopping.store(true);
  readiness.join();
  server->Stop();
  server->Wait();
  spdlog::info("stopped");
  return 0;
}

int Create(const std::string& name) {
  fs::path dir(name);
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    std::cerr << dir.string() << " already exists\n";
    return 1;
  }
  fs::create_directories(dir / "resources", ec);
  fs::create_directories(dir / "public", ec);
  fs::create_directories(dir / ".dpd", ec);
  if (ec) {
    std::cerr << "cannot create " << dir.string() << ": " << ec.message() << "\n";
    return 1;
  }
  std::ofstream(dir / "app.dpd") << "{}\n";
  std::ofstream(dir / ".gitignore") << "node_modules/\nnpm-debug.log\n.dpd/\ndata/\n";
  std::ofstream(dir / "public" / "index.html")
      << "<!DOCTYPE html>\n<html>\n<head>\n  <meta charset=\"utf-8\">\n  <title>" << dir.filename().string()
      << "</title>\n</head>\n<body>\n  <h1>Welcome to " << dir.filename().string()
      << "</h1>\n  <p>This page is public/index.html. Add resources in resources/ "
         "(each folder with a config.json), then run <code>dpd</code>.</p>\n</body>\n</html>\n";
  std::cout << "created app " << dir.string() << "\nto start it: cd " << dir.string() << " && dpd\n";
  return 0;
}

int Keygen() {
  auto key = dpd::config::GenerateKey(kKeysFile);
  if (!key.ok()) {
    std::cerr << key.status().message() << "\n";
    return 1;
  }
  std::cout << "created key " << key->substr(0, 16) << "...\n";
  return 0;
}

int Showkey() {
  auto keys = dpd::config::ReadKeys(kKeysFile);
  if (!keys.ok()) {
    std::cerr << keys.status().message() << "\n";
    return 1;
  }
  if (keys->empty()) {
    std::cerr << "No key found. Create one with \"dpd keygen\".\n";
    return 1;
  }
  std::cout << keys->front() << "\n";
  return 0;
}

}  // namespace

struct TransferArgs {
  std::string app;
  std::string db;
  std::string file;  // empty = stdout / stdin
  bool sessions = false;
};

void AddTransferOptions(CLI::App* cmd, TransferArgs& args) {
  cmd->add_option("app", args.app, "app folder (default: current folder)");
  cmd->add_option("--db", args.db, "store URL: sqlite:<path> (default sqlite:data/app.sqlite) or mongodb://...");
  cmd->add_option("-f,--file", args.file, "JSON Lines file (default: stdout for export, stdin for import)");
}

// dpd export / dpd import: any store to any store, with a counter on a terminal.
int Transfer(const TransferArgs& args, bool exporting) {
  fs::path dir = args.app.empty() ? fs::current_path() : fs::path(args.app);
  auto app = dpd::config::LoadApp(dir, "development");
  if (!app.ok()) {
    std::cerr << app.status().message() << "\n";
    return 1;
  }
  auto store = dpd::server::OpenStore(args.db, app->root);
  if (!store.ok()) {
    std::cerr << store.status().message() << "\n";
    return 1;
  }
  const bool progress = isatty(STDERR_FILENO) == 1;
  dpd::Result<std::size_t> n = std::size_t{0};
  if (exporting) {
    std::ofstream file;
    if (!args.file.empty()) file.open(args.file, std::ios::binary | std::ios::trunc);
    std::ostream& out = args.file.empty() ? std::cout : file;
    n = dpd::server::ExportData(**store, dpd::server::DataCollections(*app, args.sessions), out, progress);
  } else {
    std::ifstream file;
    if (!args.file.empty()) file.open(args.file, std::ios::binary);
    if (!args.file.empty() && !file) {
      std::cerr << "cannot read " << args.file << "\n";
      return 1;
    }
    std::istream& in = args.file.empty() ? std::cin : file;
    n = dpd::server::ImportData(**store, in, progress);
  }
  if (!n.ok()) {
    std::cerr << n.status().message() << "\n";
    return 1;
  }
  std::cerr << (exporting ? "exported " : "imported ") << *n << " documents\n";
  return 0;
}

int main(int argc, char** argv) {
  // Blocks above 256 KiB (large documents, realtime broadcasts) come from mmap and go back to the OS when freed;
  // glibc's default raises this threshold after every such free, so a burst would stay in the heap for good.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // libmongoc's load-time initialisation made /dev/shm/mongoc-<pid> for its performance counters (already mapped).
  // Its name goes now: a dpd killed with -9 would leave it behind, and a later process with the same pid then finds
  // it taken and prints a warning that is not in dpd's log format.
  shm_unlink(("/mongoc-" + std::to_string(static_cast<unsigned>(getpid()))).c_str());
  CLI::App app{"dpd — Deployd-compatible realtime API server", "dpd"};
  app.set_version_flag("-V,--version", std::string("dpd ") + kVersion);
  app.require_subcommand(0, 1);
  RunArgs root_args, run_args;
  AddRunOptions(&app, root_args);
  CLI::App* run = app.add_subcommand("run", "serve the app (the default command)");
  AddRunOptions(run, run_args);
  std::string create_name = "my-deployd-app";
  CLI::App* create = app.add_subcommand("create", "create a new app folder");
  create->add_option("name", create_name, "folder name (default my-deployd-app)");
  CLI::App* keygen = app.add_subcommand("keygen", "add a root key to .dpd/keys.json");
  CLI::App* showkey = app.add_subcommand("showkey", "print the first root key");
  TransferArgs export_args, import_args;
  CLI::App* exp = app.add_subcommand("export", "write every collection (JSON Lines) to a file or stdout");
  AddTransferOptions(exp, export_args);
  exp->add_flag("--sessions", export_args.sessions, "include the sessions collection");
  CLI::App* imp = app.add_subcommand("import", "read JSON Lines written by dpd export into the app's store");
  AddTransferOptions(imp, import_args);
  CLI11_PARSE(app, argc, argv);

  const RunArgs& logging = run->parsed() ? run_args : root_args;
  dpd::InitLogging(logging.log_level, logging.log_format == "json" ? dpd::LogFormat::kJson : dpd::LogFormat::kText);
  if (create->parsed()) return Create(create_name);
  if (keygen->parsed()) return Keygen();
  if (showkey->parsed()) return Showkey();
  if (exp->parsed()) return Transfer(export_args, true);
  if (imp->parsed()) return Transfer(import_args, false);
  if (run->parsed()) {
    run_args.port_given = run->count("--port") > 0;
    return Run(run_args);
  }
  root_args.port_given = app.count("--port") > 0;
  return Run(root_args);
}
