#include "resources/dashboard.h"

namespace dpd::resources {

DashboardResource::DashboardResource(std::string_view index_html, std::map<std::string, Asset, std::less<>> assets)
    : Resource("dashboard", "Dashboard"), index_html_(index_html), assets_(std::move(assets)) {}

boost::asio::awaitable<Reply> DashboardResource::Handle(Context& ctx) {
  if (ctx.method != "GET" && ctx.method != "HEAD") co_return Reply::Error(404, "resource not found");
  if (ctx.url == "/__is-root") {
    co_return Reply::Json(ctx.is_root ? json::object{{"isRoot", true}} : json::object());
  }
  Reply r;
  r.kind = Reply::Kind::kText;
  r.status = 200;
  if (ctx.url.rfind("/assets/", 0) == 0) {
    auto it = assets_.find(std::string_view(ctx.url).substr(8));
    if (it == assets_.end()) co_return Reply::Error(404, "resource not found");
    r.text = std::string(it->second.body);
    r.headers.emplace_back("Content-Type", it->second.content_type);
    co_return r;
  }
  r.text = std::string(index_html_);
  r.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
  co_return r;
}

}  // namespace dpd::resources
