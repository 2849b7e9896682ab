#pragma once
// The root resource: static files from the app's public folder (spec §4.2). It only names the file to serve; the
// transport does the serving (conditional GET, ranges, streaming). Thread-safe (immutable).

#include <filesystem>

#include "resources/resource.h"

namespace dpd::resources {

class FilesResource : public Resource {
 public:
  explicit FilesResource(std::filesystem::path public_dir);
  boost::asio::awaitable<Reply> Handle(Context& ctx) override;
  const std::filesystem::path& public_dir() const { return public_dir_; }

 private:
  std::filesystem::path public_dir_;
};

}  // namespace dpd::resources
