// The type registry: built-in types and their traits, custom types registered beside them, the one jsName rule.
#include "resources/registry.h"

#include <gtest/gtest.h>

namespace dpd::resources {
namespace {

class Hello : public Resource {
 public:
  explicit Hello(std::string name) : Resource(std::move(name), "Hello") {}
  boost::asio::awaitable<Reply> Handle(Context&) override { co_return Reply::Json("hello"); }
};

TEST(TypeRegistryTest, BuiltinsAndTheirTraits) {
  TypeRegistry registry = TypeRegistry::WithBuiltins();
  const ResourceType* collection = registry.Find("Collection");
  const ResourceType* users = registry.Find("UserCollection");
  ASSERT_NE(collection, nullptr);
  ASSERT_NE(users, nullptr);
  EXPECT_TRUE(collection->traits.collection && collection->traits.client);
  EXPECT_FALSE(collection->traits.users);
  EXPECT_TRUE(users->traits.users && users->traits.collection);
  EXPECT_NE(std::find(users->traits.events.begin(), users->traits.events.end(), "login.js"),
            users->traits.events.end());
  EXPECT_EQ(std::find(collection->traits.events.begin(), collection->traits.events.end(), "login.js"),
            collection->traits.events.end());
  EXPECT_EQ(registry.Find("collection"), nullptr) << "type names are case-sensitive, as in Deployd";
  EXPECT_EQ(registry.types().size(), 2u);
}

TEST(TypeRegistryTest, CustomTypesRegisterAndCarryTheirTraits) {
  TypeRegistry registry = TypeRegistry::WithBuiltins();
  TypeTraits traits;
  traits.dashboard_pages = {"config"};
  Factory make = [](const config::ResourceConfig& c, const Dependencies&) -> Result<std::shared_ptr<Resource>> {
    return std::shared_ptr<Resource>(std::make_shared<Hello>(c.name));
  };
  ASSERT_TRUE(registry.Register({"Hello", traits, make}).ok());
  EXPECT_FALSE(registry.Register({"Hello", traits, make}).ok()) << "a name registers once";
  EXPECT_FALSE(registry.Register({"Collection", traits, make}).ok()) << "built-ins cannot be replaced";

  config::ResourceConfig rc;
  rc.name = "greeting";
  rc.type = "Hello";
  auto made = registry.Make(rc, Dependencies{});
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_EQ((*made)->traits().dashboard_pages, std::vector<std::string>{"config"});
  EXPECT_FALSE((*made)->traits().client);
  EXPECT_EQ(AsUserCollection(made->get()), nullptr);

  rc.type = "Nope";
  auto unknown = registry.Make(rc, Dependencies{});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "Cannot find type \"Nope\" for resource greeting (resources/greeting/config.json)");
}

TEST(JsNameTest, DropsEverythingButLettersAndDigits) {
  EXPECT_EQ(JsName("todos"), "todos");
  EXPECT_EQ(JsName("my-todos"), "mytodos");
  EXPECT_EQ(JsName("somenamespace/test_2"), "somenamespacetest2");
  EXPECT_EQ(JsName(""), "");
}

}  // namespace
}  // namespace dpd::resources
