#include "server/app_snapshot.h"

#include <algorithm>

#include "base/log.h"
#include "resources/files.h"
#include "server/dpd_js.h"

namespace dpd::server {

resources::UserCollection* AppSnapshot::users(std::string_view path) const {
  auto it = user_collections.find(path);
  return it == user_collections.end() ? nullptr : it->second;
}

std::shared_ptr<const AppSnapshot> BuildSnapshot(config::App app, const resources::TypeRegistry& types,
                                                 const resources::Dependencies& deps, std::uint64_t generation) {
  auto snap = std::make_shared<AppSnapshot>();
  snap->generation = generation;
  snap->problems = app.problems;
  std::vector<std::shared_ptr<resources::Resource>> list;
  for (const auto& rc : app.resources) {
    auto r = types.Make(rc, deps);
    if (!r.ok()) {
      snap->problems.push_back(r.status().message());
      continue;
    }
    list.push_back(std::move(*r));
  }
  // Types that mount an instance of their own (spec §1.5 item 4), after the app's resources. A name dpd serves
  // itself (/dpd.js, /dashboard: dpd-clientlib and dpd-dashboard self-host those in Deployd) or one the app uses
  // already is left to them.
  for (const resources::ResourceType* type : types.types()) {
    if (!type->self_host) continue;
    auto r = type->self_host(deps);
    if (!r.ok()) {
      snap->problems.push_back(r.status().message());
      continue;
    }
    if (!*r) continue;
    const std::string& name = (*r)->name();
    const bool builtin = name == "dpd.js" || name == "dashboard" || name.rfind("__", 0) == 0 ||
                         name.rfind("socket.io", 0) == 0;
    const bool taken =
        std::any_of(list.begin(), list.end(), [&](const auto& other) { return other->name() == name; });
    if (builtin || taken) {
      spdlog::info("type {} self-hosts /{}: {}, not mounted", type->name, name,
                   builtin ? "dpd serves that path itself" : "the app has a resource there");
      continue;
    }
    spdlog::info("type {} self-hosts /{}", type->name, name);
    list.push_back(std::move(*r));
  }
  for (const auto& p : snap->problems) spdlog::error("resource skipped: {}", p);
  snap->static_root = std::make_shared<http::StaticRoot>(app.public_dir);
  auto files = std::make_shared<resources::FilesResource>(app.public_dir);
  snap->router = std::make_shared<const resources::Router>(std::move(list), std::move(files));
  // /dpd.js: the client, then dpd.<jsName> for every resource that offers one (spec §4.4).
  snap->dpd_js = std::string(kDpdJs) + "\n";
  for (const auto& r : snap->router->resources()) {
    if (auto* u = resources::AsUserCollection(r.get())) snap->user_collections.emplace(u->path(), u);
    if (!r->traits().client) continue;
    snap->dpd_js += "dpd._resource(" + json::Write(json::value(json::string(resources::JsName(r->name())))) + ", " +
                    json::Write(json::value(json::string(r->path()))) + ", " + (r->traits().users ? "true" : "false") +
                    (r->traits().collection ? ", true" : "") + ");\n";
  }
  snap->app = std::move(app);
  return snap;
}

}  // namespace dpd::server
