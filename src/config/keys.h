#pragma once
// Root keys in .dpd/keys.json: a JSON object {"<512 hex key>": true, ...} (spec §9), written atomically with
// mode 0600. Thread-safety: free functions; concurrent writers must be serialised by the caller.

#include <filesystem>
#include <string>
#include <vector>

#include "base/status.h"

namespace dpd::config {

// The keys of `file` in file order (empty when the file does not exist). BadRequest when it is not valid.
Result<std::vector<std::string>> ReadKeys(const std::filesystem::path& file);

// Adds a new 512-hex key (256 random bytes) to `file`, creating it and its folder, and returns the key.
Result<std::string> GenerateKey(const std::filesystem::path& file);

}  // namespace dpd::config
