#include "config/app.h"

#include <algorithm>
#include <system_error>

#include "base/file.h"

namespace dpd::config {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxConfigBytes = 1024 * 1024;

constexpr int kMaxResourceDepth = 16;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Reads config.json of one resource folder; on failure, a problem line naming the file.
Result<ResourceConfig> LoadResource(const fs::path& resources_dir, const fs::path& dir, std::size_t max_script_bytes) {
  ResourceConfig rc;
  rc.dir = dir;
  rc.config_file = dir / "config.json";
  rc.name = fs::relative(dir, resources_dir).generic_string();
  const std::string where = "resources/" + rc.name + "/config.json";
  if (!IsValidResourceName(rc.name)) {
    return Status::BadRequest(where + ": invalid resource name \"" + rc.name + "\"");
  }
  std::error_code ec;
  if (fs::file_size(rc.config_file, ec) > kMaxConfigBytes) {
    return Status::BadRequest(where + ": larger than 1 MiB");
  }
  auto text = ReadFile(rc.config_file);
  if (!text.ok()) return Status::BadRequest(where + ": " + text.status().message());
  auto parsed = json::Parse(*text);
  if (!parsed.ok()) return Status::BadRequest(where + ": " + parsed.status().message());
  if (!parsed->is_object()) return Status::BadRequest(where + ": not a JSON object");
  rc.settings = std::move(parsed->as_object());
  const json::value* type = rc.settings.if_contains("type");
  if (type == nullptr || !type->is_string() || type->as_string().empty()) {
    return Status::BadRequest(where + ": missing \"type\"");
  }
  rc.type = std::string(type->as_string());
  rc.scripts = LoadScripts(dir, max_script_bytes);
  return rc;
}

void Scan(const fs::path& resources_dir, const fs::path& dir, int depth, std::size_t max_script_bytes, App& app) {
  std::error_code ec;
  if (depth > kMaxResourceDepth) {
    app.problems.push_back(dir.string() + ": resources nested deeper than " + std::to_string(kMaxResourceDepth));
    return;
  }
  if (depth > 0 && fs::exists(dir / "config.json", ec)) {
    auto rc = LoadResource(resources_dir, dir, max_script_bytes);
    if (rc.ok()) {
      app.resources.push_back(std::move(*rc));
    } else {
      app.problems.push_back(rc.status().message());
    }
  }
  std::vector<fs::path> children;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    // Symlinked folders are not followed (no loops, no escape from the app folder).
    if (entry.is_directory(ec) && !entry.is_symlink(ec)) children.push_back(entry.path());
  }
  std::sort(children.begin(), children.end());
  for (const auto& child : children) Scan(resources_dir, child, depth + 1, max_script_bytes, app);
}

}  // namespace

bool IsAppFolder(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "app.dpd", ec);
}

bool IsValidResourceName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view seg = name.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                c == '.';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

std::map<std::string, std::string> LoadScripts(const std::filesystem::path& dir, std::size_t max_script_bytes) {
  std::map<std::string, std::string> scripts;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    std::string file = entry.path().filename().string();
    if (file.size() < 4 || Lower(file.substr(file.size() - 3)) != ".js") continue;
    if (entry.file_size(ec) == 0 || entry.file_size(ec) > max_script_bytes) continue;
    auto source = ReadFile(entry.path());
    if (source.ok() && !source->empty()) scripts[Lower(file)] = std::move(*source);
  }
  return scripts;
}

std::string AppStamp(const fs::path& root) {
  std::vector<std::string> parts;
  std::error_code ec;
  fs::recursive_directory_iterator it(root / "resources", fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string file = it->path().filename().string();
    const bool script = file.size() >= 4 && Lower(file.substr(file.size() - 3)) == ".js";
    if (!script && file != "config.json") continue;
    const auto stamp = static_cast<long long>(it->last_write_time(ec).time_since_epoch().count());
    parts.push_back(it->path().string() + ":" + std::to_string(it->file_size(ec)) + ":" + std::to_string(stamp));
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) out += p + "\n";
  return out;
}

Result<App> LoadApp(const fs::path& root, std::string_view env, std::size_t max_script_bytes) {
  if (!IsAppFolder(root)) {
    return Status::NotFound(root.string() + " does not contain a Deployd app (no app.dpd)");
  }
  App app;
  std::error_code ec;
  app.root = fs::absolute(root, ec);
  fs::path env_public = app.root / ("public-" + std::string(env));
  app.public_dir = (!env.empty() && fs::is_directory(env_public, ec)) ? env_public : app.root / "public";
  fs::path resources_dir = app.root / "resources";
  if (fs::is_directory(resources_dir, ec)) Scan(resources_dir, resources_dir, 0, max_script_bytes, app);
  std::sort(app.resources.begin(), app.resources.end(),
            [](const ResourceConfig& a, const ResourceConfig& b) { return a.name < b.name; });
  return app;
}

namespace {
// app.dpd's settings object; an empty object for a missing or blank file.
Result<json::object> AppSettings(const fs::path& root) {
  std::error_code ec;
  if (fs::file_size(root / "app.dpd", ec) > kMaxConfigBytes) return Status::BadRequest("app.dpd: larger than 1 MiB");
  auto text = ReadFile(root / "app.dpd");
  if (!text.ok()) return json::object();
  if (text->find_first_not_of(" \t\r\n") == std::string::npos) return json::object();  // empty: no settings
  auto parsed = json::Parse(*text);
  if (!parsed.ok()) return Status::BadRequest("app.dpd: " + parsed.status().message());
  if (!parsed->is_object()) return json::object();
  return std::move(parsed->as_object());
}
}  // namespace

Result<std::vector<std::string>> AppAlerts(const fs::path& root) {
  std::vector<std::string> out;
  auto settings = AppSettings(root);
  if (!settings.ok()) return settings.status();
  const json::value* alerts = settings->if_contains("alerts");
  if (alerts == nullptr) return out;
  if (!alerts->is_object()) return Status::BadRequest("app.dpd: \"alerts\" must be an object of numbers");
  for (const auto& [name, value] : alerts->as_object()) {
    if (!value.is_number()) return Status::BadRequest("app.dpd: alert \"" + std::string(name) + "\" is not a number");
    out.push_back(std::string(name) + "=" + json::Write(value));
  }
  return out;
}

Result<std::string> AppBus(const fs::path& root) {
  auto settings = AppSettings(root);
  if (!settings.ok()) return settings.status();
  const json::value* bus = settings->if_contains("bus");
  if (bus == nullptr || bus->is_null()) return std::string();
  if (!bus->is_string()) return Status::BadRequest("app.dpd: \"bus\" must be a redis:// URL");
  return std::string(bus->as_string());
}

}  // namespace dpd::config
