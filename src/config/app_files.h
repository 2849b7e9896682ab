#pragma once
// Writing a resource's files in an app folder (the /__resources config API, spec §4.3): config.json (tab-indented,
// as Deployd writes it) and event scripts, each write atomic (temp → fsync → rename → fsync dir); moving a resource
// to another name; deleting it. A resource's files are its config.json and its *.js files; folders below it are other
// resources and are never touched.
//
// Names must pass IsValidResourceName (checked here too); a file name is a plain name. Every path stays inside
// <root>/resources: a symlink on the way is refused, so nothing outside the app is ever written.
//
// Thread-safety: free functions; concurrent writers of one resource are serialised by the caller.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"
#include "json/json.h"

namespace dpd::config {

// <root>/resources/<name>, when every component of it that exists is a real folder (no symlink). BadRequest
// otherwise, or when the name is not valid.
Result<std::filesystem::path> ResourceDir(const std::filesystem::path& root, std::string_view name);

// The text of <resource>/<file>; NotFound when there is none.
Result<std::string> ReadResourceFile(const std::filesystem::path& root, std::string_view name, std::string_view file);

// Writes config.json (creating the folders).
Status WriteConfig(const std::filesystem::path& root, std::string_view name, const json::object& config);
// Writes <resource>/<file> (an event script; the caller checks the name).
Status WriteResourceFile(const std::filesystem::path& root, std::string_view name, std::string_view file,
                         std::string_view text);

// Moves the resource's own files to `to` (sub-resources stay where they are). BadRequest when `to` already holds a
// resource.
Status MoveResource(const std::filesystem::path& root, std::string_view from, std::string_view to);

// Removes the resource's own files, then the folders left empty, up to resources/.
Status DeleteResource(const std::filesystem::path& root, std::string_view name);

}  // namespace dpd::config
