#pragma once
// A resource of a custom type from node_modules (spec §1.5), served by the Node.js module host
// (script/node_host.h): each request is handed over with the caller's session and user, and its answer turned into
// a Reply — ctx.done(err, result) as the core's responses are (spec §3.8, §3.9), a response the module wrote itself
// as written. The host's answer is awaited at most ModuleLimits::request_time (then 500 "Module timed out"); a
// restarted host answers 500. Also here: the registry entries of the host's types.
//
// Thread-safety: as every Resource (the host is shared and thread-safe).

#include <memory>

#include "base/limits.h"
#include "resources/registry.h"
#include "resources/resource.h"
#include "script/node_host.h"

namespace dpd::resources {

class ModuleResource : public Resource {
 public:
  ModuleResource(std::string name, std::string type, std::shared_ptr<script::NodeHost> host, std::uint64_t instance,
                 const Limits& limits, Emitter* emitter);
  ~ModuleResource() override;

  boost::asio::awaitable<Reply> Handle(Context& ctx) override;
  bool TakesUploads() const override { return true; }

 private:
  std::shared_ptr<script::NodeHost> host_;
  std::uint64_t instance_;
  Limits limits_;
  Emitter* emitter_;
};

// Registers every type the host found (its traits from the module: label, events, clientGeneration).
Status RegisterModuleTypes(TypeRegistry& registry, const std::shared_ptr<script::NodeHost>& host);

}  // namespace dpd::resources
