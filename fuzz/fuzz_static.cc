// Static files: whatever the request path (percent escapes, dot segments, NUL, backslashes, long names), nothing
// outside public/ is ever served — not a file beside it, not one a symlink inside it points to.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "common/fuzz_util.h"
#include "http/static_files.h"

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSecret = "SECRET-OUTSIDE-PUBLIC";

const dpd::http::StaticRoot& Root() {
  static const dpd::http::StaticRoot* root = [] {
    char tmpl[] = "/tmp/dpd-fuzz-static-XXXXXX";
    const fs::path dir = ::mkdtemp(tmpl);
    fs::create_directories(dir / "public" / "sub");
    std::ofstream(dir / "public" / "index.html") << "<h1>index</h1>";
    std::ofstream(dir / "public" / "a.txt") << "inside a";
    std::ofstream(dir / "public" / "sub" / "b.txt") << "inside b";
    std::ofstream(dir / "secret.txt") << kSecret;
    std::ofstream(dir / "public-other.txt") << kSecret;
    fs::create_symlink(dir / "secret.txt", dir / "public" / "link.txt");
    fs::create_directory_symlink(dir, dir / "public" / "up");
    return new dpd::http::StaticRoot(dir / "public");
  }();
  return *root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  std::string path(reinterpret_cast<const char*>(data), size);
  if (path.empty() || path[0] != '/') path.insert(path.begin(), '/');
  dpd::http::Request req;
  req.method = "GET";
  req.target = path;
  auto res = Root().Serve(req, "GET", path);
  if (!res) return 0;
  if (res->body.find(kSecret) != std::string::npos) dpd::fuzz::Fail();  // a file outside public/ was served
  if (res->file) dpd::fuzz::Fail();  // every file here is small: a FileBody would be something else
  return 0;
}
