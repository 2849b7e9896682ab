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
#include <mutex>
#include <string>
#include <utility>
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

// The current snapshot: every request loads it, a reload stores a new one. A mutex, not
// std::atomic<std::shared_ptr>: GCC 12's load() releases its internal lock with memory_order_relaxed, so a load's
// read of the pointer is not ordered before a later store's write (ThreadSanitizer reports it; a data race in the
// memory model even where x86 forgives it). An uncontended lock costs about what that internal lock did.
class SnapshotCell {
 public:
  std::shared_ptr<const AppSnapshot> Load() const {
    std::lock_guard lock(mu_);
    return cell_;
  }
  void Store(std::shared_ptr<const AppSnapshot> s) {
    std::shared_ptr<const AppSnapshot> old;
    {
      std::lock_guard lock(mu_);
      old = std::exchange(cell_, std::move(s));
    }
    // `old` (perhaps the last reference to a whole snapshot) is released outside the lock.
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const AppSnapshot> cell_;  // guarded by mu_
};

}  // namespace dpd::server
