#pragma once
// Runs a coroutine to completion on a private io_context and returns its result: for command-line tools (export,
// import) and tests, never on a server thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace dpd::store {

template <typename T>
T RunSync(boost::asio::awaitable<T> aw) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.run();
  return f.get();
}

}  // namespace dpd::store
