// The router's path handling (resources/router.h): resource names from the first line (comma-separated), request
// paths on the following lines. Resolve must agree with the rule of spec §4.1 written out plainly below: a resource
// "/a/b" matches "/a/b" and "/a/b/…", case-sensitively on the raw path, most specific first, the root last; the
// part below the resource starts with '/'.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/fuzz_util.h"
#include "resources/router.h"

namespace {

class Named : public dpd::resources::Resource {
 public:
  using Resource::Resource;
  boost::asio::awaitable<dpd::resources::Reply> Handle(dpd::resources::Context&) override {
    co_return dpd::resources::Reply::Next();
  }
};

// A name as the configuration loader admits it: segments without '/', '?', '#' or NUL, none empty.
std::string CleanName(std::string_view raw) {
  std::string out, seg;
  auto flush = [&] {
    if (seg.empty()) return;
    if (!out.empty()) out += '/';
    out += seg;
    seg.clear();
  };
  for (char c : raw) {
    if (c == '/') flush();
    else if (c != '?' && c != '#' && c != '\0' && c != '\r') seg += c;
  }
  flush();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = text.find('\n');
  std::string_view names_line = text.substr(0, nl);
  text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);

  std::set<std::string> names;
  while (!names_line.empty() && names.size() < 32) {
    const std::size_t comma = names_line.find(',');
    std::string name = CleanName(names_line.substr(0, comma));
    if (!name.empty()) names.insert(std::move(name));
    names_line = comma == std::string_view::npos ? std::string_view() : names_line.substr(comma + 1);
  }
  std::vector<std::shared_ptr<dpd::resources::Resource>> resources;
  for (const auto& n : names) resources.push_back(std::make_shared<Named>(n, "T"));
  auto root = std::make_shared<Named>("", "T");
  dpd::resources::Router router(resources, root);

  for (int paths = 0; paths < 64; ++paths) {
    const std::size_t end = text.find('\n');
    const std::string path(text.substr(0, end));
    // The plain rule: every resource whose path is the request path or a prefix of it ending at a '/'.
    std::vector<std::pair<std::string, std::string>> expected;  // (resource path, url below it)
    for (const auto& n : names) {
      const std::string p = "/" + n;
      if (path == p) expected.emplace_back(p, "/");
      else if (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/')
        expected.emplace_back(p, path.substr(p.size()));
    }
    std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    expected.emplace_back("/", path);

    const auto got = router.Resolve(path);
    if (got.size() != expected.size()) dpd::fuzz::Fail();
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i].resource->path() != expected[i].first || std::string(got[i].url) != expected[i].second)
        dpd::fuzz::Fail();
      if (i + 1 < got.size() && (got[i].url.empty() || got[i].url[0] != '/')) dpd::fuzz::Fail();
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return 0;
}
