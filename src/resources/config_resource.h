#pragma once
// /__resources: Deployd's config API (spec §4.3), root only — list the resources, the types, one config or file;
// create, merge ($setAll: replace), rename (a body "id" other than the name) and delete resources; write event
// scripts. dpd's differences: a write is validated before anything is written (a config that would not load — not
// an object, an unknown type, an invalid or reserved name, a name taken, invalid properties — is a 400 naming the
// problem), only config.json and the type's event files can be written, a file is written atomically, and the
// change is live when the answer arrives (the server's reload callback builds and swaps a new app snapshot).
//
// Thread-safety: Handle runs on any worker; writes to the app folder are serialised by a mutex.

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>

#include "resources/registry.h"
#include "resources/resource.h"
#include "store/store.h"

namespace dpd::resources {

class ConfigResource : public Resource {
 public:
  struct Parts {
    std::filesystem::path root;  // the app folder
    std::string environment;     // for loading it
    const TypeRegistry* types = nullptr;
    store::Store* store = nullptr;                        // a renamed collection's documents move, a deleted one's go
    std::function<Status()> reload;                       // makes what was written live (AppServer::Reload)
    std::function<bool(std::string_view path)> reserved;  // "/dashboard", "/dpd.js", …: not a resource's path
    ScriptLimits script;                                  // for {"$check": true}: a script compiled, not written
  };
  explicit ConfigResource(Parts parts);

  boost::asio::awaitable<Reply> Handle(Context& ctx) override;

 private:
  Reply List() const;
  Reply Types() const;
  Reply Read(const std::string& name, const std::string& file) const;
  boost::asio::awaitable<Reply> WriteConfig(Context& ctx, const std::string& name);
  Reply WriteFile(Context& ctx, const std::string& name, const std::string& file);
  boost::asio::awaitable<Reply> Delete(const std::string& name);
  // The resource's config as on disk (nullopt: none).
  std::optional<json::object> Config(const std::string& name) const;
  // 400 when `name` cannot hold a resource (invalid, reserved), else nullopt.
  std::optional<Reply> CheckName(const std::string& name) const;
  Reply Reloaded(Reply answer) const;

  Parts parts_;
  std::mutex write_mu_;  // one write of the app folder at a time
};

}  // namespace dpd::resources
