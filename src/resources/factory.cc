#include "resources/factory.h"

namespace dpd::resources {
namespace {

// Collection and UserCollection are known types whose HTTP API arrives with the collections issue (#3) and the
// users issue (#5). Until then they own their URL space and answer 501 with Deployd's error shape, so routing and
// namespaces already behave as they will.
class PendingCollection : public Resource {
 public:
  using Resource::Resource;
  boost::asio::awaitable<Reply> Handle(Context&) override {
    co_return Reply::Error(501, type() + " resources are not available in this build yet", true);
  }
};

}  // namespace

Result<std::shared_ptr<Resource>> MakeResource(const config::ResourceConfig& config) {
  if (config.type == "Collection" || config.type == "UserCollection") {
    return std::shared_ptr<Resource>(std::make_shared<PendingCollection>(config.name, config.type));
  }
  return Status::BadRequest("Cannot find type \"" + config.type + "\" for resource " + config.name + " (" +
                            "resources/" + config.name + "/config.json)");
}

}  // namespace dpd::resources
