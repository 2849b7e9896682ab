#pragma once
// Small file helpers. Thread-safe (no shared state).

#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"

namespace dpd {

// Reads a whole file. NotFound when it does not exist.
Result<std::string> ReadFile(const std::filesystem::path& path);

// Replaces `path` with `content` so that after a crash at any moment the file holds either the old or the new
// content: write a temp file beside it, fsync it, rename it over `path`, fsync the directory.
// `mode` is the permission of the new file (e.g. 0600 for key files).
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, unsigned mode = 0644);

}  // namespace dpd
