#pragma once
// /dashboard/ (spec §4.5, §13): dpd's own single-page dashboard. `__is-root` answers {"isRoot":true} for root and {}
// otherwise (the page shows its "Authentication key" form then); `assets/<file>` are the page's scripts and styles
// (dpd's own and Debian's CodeMirror, compiled in by server/); every other path is the page itself, which routes
// /dashboard/<resource>/<page>/ in the browser. The page reaches the app through /__resources and the resources'
// own HTTP API, as root.
//
// Thread-safety: immutable.

#include <map>
#include <string>

#include "resources/resource.h"

namespace dpd::resources {

class DashboardResource : public Resource {
 public:
  struct Asset {
    std::string content_type;
    std::string_view body;
  };
  DashboardResource(std::string_view index_html, std::map<std::string, Asset, std::less<>> assets);
  boost::asio::awaitable<Reply> Handle(Context& ctx) override;

 private:
  std::string_view index_html_;
  std::map<std::string, Asset, std::less<>> assets_;
};

}  // namespace dpd::resources
