#pragma once
// Static files from an app's public folder (spec §4.2, `send` semantics): index.html for folders, 301 to the
// slash form for folders without it, Content-Type by extension, weak ETag, Last-Modified, 304, single Range (206,
// 416), GET and HEAD. Nothing outside the public folder is ever served: files are opened with openat2
// RESOLVE_BENEATH relative to the folder, so `..`, absolute symlinks and symlinks leading out are refused by the
// kernel; `..`, dot-files and NUL are refused before that. Refusals look like "not found", so the router answers
// its JSON 404.
//
// Thread-safety: a StaticRoot is immutable after construction; Serve is safe from any thread.

#include <filesystem>
#include <optional>
#include <string_view>

#include "http/message.h"

namespace dpd::http {

class StaticRoot {
 public:
  // Opens `dir` once. A missing folder serves nothing.
  explicit StaticRoot(std::filesystem::path dir);
  ~StaticRoot();
  StaticRoot(const StaticRoot&) = delete;
  StaticRoot& operator=(const StaticRoot&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  // `url_path` is the raw request path relative to the mount point (starts with '/'); `method` is the effective
  // method (after any override). Returns nullopt when there is nothing to serve (missing, refused, or a method
  // other than GET/HEAD). Files up to 64 KiB come back in `body`; larger ones as an open FileBody.
  std::optional<Response> Serve(const Request& req, std::string_view method, std::string_view url_path) const;

 private:
  int OpenBeneath(const std::string& relative) const;  // -1 when refused or missing
  std::filesystem::path dir_;
  int fd_ = -1;
};

// The Content-Type for a file name ("application/octet-stream" when unknown).
std::string_view ContentTypeFor(std::string_view file_name);

}  // namespace dpd::http
