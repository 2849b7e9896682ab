// What only the MongoDB store has: an unreachable server is a quick 503. Everything both stores share — against a
// MongoDB wire-protocol server named by DPD_TEST_MONGO_URL — is in store/store_conformance_test.cc.
#include "store/mongo/mongo_store.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace dpd::store::mongo {
namespace {
namespace asio = boost::asio;

TEST(MongoStoreDownTest, AnUnreachableServerIsUnavailableQuickly) {
  auto s = MongoStore::Open({"mongodb://127.0.0.1:1/dpd?serverSelectionTimeoutMS=300"});
  ASSERT_TRUE(s.ok());
  asio::io_context ioc;
  const query::Filter all;  // named: the coroutine reads it after this statement
  auto f = asio::co_spawn(ioc, (*s)->Count("x", all), asio::use_future);
  ioc.run();
  auto n = f.get();
  EXPECT_EQ(n.status().code(), Code::kUnavailable) << n.status().message();
}

}  // namespace
}  // namespace dpd::store::mongo
