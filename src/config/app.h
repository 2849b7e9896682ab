#pragma once
// Loading a Deployd app folder (spec/deployd-1.2.md §1): app.dpd, resources/<name>/config.json (nested names
// allowed: resources/a/b/config.json is the resource "a/b"), the event script files beside each config, and the
// static folder public/ (or public-<env> when it exists).
//
// Loading never fails because of one bad resource: a broken config.json is recorded in App::problems with its file
// name and the resource is left out. Thread-safety: an App is an immutable value once loaded.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/limits.h"
#include "base/status.h"
#include "json/json.h"

namespace dpd::config {

struct ResourceConfig {
  std::string name;                   // "todos", "somenamespace/test"
  std::string type;                   // config.json "type"
  json::object settings;              // the whole config.json
  std::filesystem::path dir;          // resources/<name>
  std::filesystem::path config_file;  // resources/<name>/config.json
  // Event scripts: lower-case file name ("get.js") → source. Missing or empty files are absent (spec §1.3).
  std::map<std::string, std::string> scripts;
};

struct App {
  std::filesystem::path root;             // the folder holding app.dpd
  std::filesystem::path public_dir;       // public/ or public-<env>/ (may not exist)
  std::vector<ResourceConfig> resources;  // sorted by name
  std::vector<std::string> problems;      // one line per resource left out, naming the file
};

// True when `dir` holds an app.dpd file.
bool IsAppFolder(const std::filesystem::path& dir);

// Loads the app in `root` for environment `env`; event scripts over `max_script_bytes` (ScriptLimits::source_bytes)
// are left out. Fails only when `root` is not an app folder.
Result<App> LoadApp(const std::filesystem::path& root, std::string_view env,
                    std::size_t max_script_bytes = ScriptLimits{}.source_bytes);

// The event scripts in a resource folder: lower-case file name → source (empty or oversized files left out).
std::map<std::string, std::string> LoadScripts(const std::filesystem::path& dir,
                                               std::size_t max_script_bytes = ScriptLimits{}.source_bytes);

// A signature of everything LoadApp reads below `root`/resources (every config.json and *.js: names, sizes,
// modification times): changes when a resource or a script is added, removed or edited. Cheap enough to poll.
std::string AppStamp(const std::filesystem::path& root);

// The "alerts" object of `root`/app.dpd ({"p99_ms": 250, "error_rate": 0.01, …}) as "name=value" items in the form
// of `dpd --alert`; empty when app.dpd has none. BadRequest when app.dpd is not JSON or "alerts" is not an object
// of numbers.
Result<std::vector<std::string>> AppAlerts(const std::filesystem::path& root);
// app.dpd's "bus": the Redis URL of several nodes (--bus wins), or empty.
Result<std::string> AppBus(const std::filesystem::path& root);

// The resource-name rules dpd enforces: non-empty `/`-separated segments of [A-Za-z0-9_.-], not starting with
// "__" (reserved for /__health and friends), no "." or ".." segments.
bool IsValidResourceName(std::string_view name);

}  // namespace dpd::config
