#pragma once
// The app as one immutable value (ARCHITECTURE §2): the loaded folder, its resources and router, the user
// collections sessions point at, the static root and the generated /dpd.js. A request pins the snapshot it
// started with (a shared_ptr), so it finishes on that configuration; a reload (a file changed on disk, and later
// /__resources) builds a new snapshot off the request path, warms it on every worker and swaps it in.
//
// Thread-safety: a snapshot is immutable; SnapshotCell's Load/Store may be called from any thread.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "config/app.h"
#include "http/static_files.h"
#include "resources/registry.h"
#include "resources/router.h"
#include "resources/user_collection.h"

namespace dpd::server {

struct AppSnapshot {
  std::uint64_t generation = 0;  // 1 for the first, +1 per reload
  config::App app;
  std::shared_ptr<const resources::Router> router;  // owns the resources
  // The user collections by path ("/users"): where a session's user is loaded from.
  std::map<std::string, resources::UserCollection*, std::less<>> user_collections;
  std::shared_ptr<http::StaticRoot> static_root;  // the files resource's folder, opened once
  std::string dpd_js;                             // the browser client with this app's dpd.<name> (spec §4.4)
  std::vector<std::string> problems;              // one line per resource left out (file and reason)

  resources::UserCollection* users(std::string_view path) const;
};

// Builds every resource of `app` through `types` (a resource that cannot be built is left out and named in
// problems), the router and the /dpd.js text.
std::shared_ptr<const AppSnapshot> BuildSnapshot(config::App app, const resources::TypeRegistry& types,
                                                 const resources::Dependencies& deps, std::uint64_t generation);

// The current snapshot.
class SnapshotCell {
 public:
  std::shared_ptr<const AppSnapshot> Load() const { return cell_.load(std::memory_order_acquire); }
  void Store(std::shared_ptr<const AppSnapshot> s) { cell_.store(std::move(s), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const AppSnapshot>> cell_;
};

}  // namespace dpd::server
