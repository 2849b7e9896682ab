#pragma once
// Static files from an app's public/ folder (spec §4.2, `send` semantics): index.html for folders, 301 to the
// slash form for folders without it, Content-Type by extension, weak ETag, Last-Modified, 304, single Range (206,
// 416), GET and HEAD. Nothing outside the public folder is ever served: `..` and encoded `..`, NUL, dot-files and
// symlinks leading outside are refused (as "not found", so the router answers its JSON 404).
// Thread-safety: pure function of the file system.

#include <filesystem>
#include <optional>
#include <string_view>

#include "http/message.h"

namespace dpd::http {

// `url_path` is the raw request path relative to the mount point (starts with '/'); `method` is the effective
// method (after any override). Returns nullopt when there is nothing to serve (missing, refused, or a method other
// than GET/HEAD).
std::optional<Response> ServeStatic(const Request& req, std::string_view method,
                                    const std::filesystem::path& public_dir, std::string_view url_path);

// The Content-Type for a file name ("application/octet-stream" when unknown).
std::string_view ContentTypeFor(const std::filesystem::path& file);

}  // namespace dpd::http
