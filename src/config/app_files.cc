#include "config/app_files.h"

#include <sys/stat.h>

#include <vector>

#include "base/file.h"
#include "config/app.h"

namespace dpd::config {
namespace fs = std::filesystem;
namespace {

bool IsResourceFileName(const std::string& file) {
  if (file == "config.json") return true;
  return file.size() > 3 && file.compare(file.size() - 3, 3, ".js") == 0;
}

bool IsPlainFileName(std::string_view file) {
  return !file.empty() && file != "." && file != ".." && file.find('/') == std::string_view::npos &&
         file.find('\0') == std::string_view::npos;
}

// The resource's own files (config.json and scripts), not its sub-resources.
std::vector<fs::path> OwnFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
    if (IsResourceFileName(entry.path().filename().string())) out.push_back(entry.path());
  }
  return out;
}

// Removes `dir` and its parents while they are empty, up to (not including) `stop`.
void RemoveEmptyFolders(fs::path dir, const fs::path& stop) {
  std::error_code ec;
  while (dir != stop && dir.string().size() > stop.string().size() && fs::is_empty(dir, ec) && !ec) {
    fs::remove(dir, ec);
    dir = dir.parent_path();
  }
}

}  // namespace

Result<fs::path> ResourceDir(const fs::path& root, std::string_view name) {
  if (!IsValidResourceName(name)) return Status::BadRequest("Invalid resource name \"" + std::string(name) + "\"");
  // Each existing component must be a real folder: a symlink (or a file) on the way is refused.
  auto plain = [](const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
  };
  fs::path dir = root / "resources";
  if (!plain(dir)) return Status::BadRequest("resources/ is not a plain folder");
  std::string_view rest = name;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    dir /= std::string(rest.substr(0, slash));
    if (!plain(dir)) return Status::BadRequest("resources/" + std::string(name) + ": a link or a file on the way");
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  return dir;
}

Result<std::string> ReadResourceFile(const fs::path& root, std::string_view name, std::string_view file) {
  auto dir = ResourceDir(root, name);
  if (!dir.ok()) return dir.status();
  if (!IsPlainFileName(file)) return Status::BadRequest("Invalid file name");
  const fs::path path = *dir / std::string(file);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Status::NotFound("no such file");
  return ReadFile(path);
}

Status WriteResourceFile(const fs::path& root, std::string_view name, std::string_view file, std::string_view text) {
  auto dir = ResourceDir(root, name);
  if (!dir.ok()) return dir.status();
  if (!IsPlainFileName(file)) return Status::BadRequest("Invalid file name");
  std::error_code ec;
  fs::create_directories(*dir, ec);
  if (ec) return Status::Internal("cannot create resources/" + std::string(name) + ": " + ec.message());
  const fs::path path = *dir / std::string(file);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Status::BadRequest("resources/" + std::string(name) + "/" + std::string(file) + " is not a plain file");
  }
  return WriteFileAtomic(path, text);
}

Status WriteConfig(const fs::path& root, std::string_view name, const json::object& config) {
  return WriteResourceFile(root, name, "config.json", json::WritePretty(config));
}

Status MoveResource(const fs::path& root, std::string_view from, std::string_view to) {
  auto src = ResourceDir(root, from);
  if (!src.ok()) return src.status();
  auto dst = ResourceDir(root, to);
  if (!dst.ok()) return dst.status();
  std::error_code ec;
  if (fs::exists(*dst / "config.json", ec)) {
    return Status::BadRequest("A resource named \"" + std::string(to) + "\" already exists");
  }
  fs::create_directories(*dst, ec);
  if (ec) return Status::Internal("cannot create resources/" + std::string(to) + ": " + ec.message());
  // Scripts first, config.json last: until the config arrives the new folder is not a resource.
  std::vector<fs::path> files = OwnFiles(*src);
  std::stable_partition(files.begin(), files.end(), [](const fs::path& p) { return p.filename() != "config.json"; });
  for (const auto& f : files) {
    fs::rename(f, *dst / f.filename(), ec);
    if (ec) return Status::Internal("cannot move " + f.filename().string() + ": " + ec.message());
  }
  RemoveEmptyFolders(*src, root / "resources");
  return Status::Ok();
}

Status DeleteResource(const fs::path& root, std::string_view name) {
  auto dir = ResourceDir(root, name);
  if (!dir.ok()) return dir.status();
  std::error_code ec;
  // config.json first: from then on the folder is no resource, whatever happens to the rest.
  std::vector<fs::path> files = OwnFiles(*dir);
  std::stable_partition(files.begin(), files.end(), [](const fs::path& p) { return p.filename() == "config.json"; });
  for (const auto& f : files) {
    fs::remove(f, ec);
    if (ec) return Status::Internal("cannot remove " + f.filename().string() + ": " + ec.message());
  }
  RemoveEmptyFolders(*dir, root / "resources");
  return Status::Ok();
}

}  // namespace dpd::config
