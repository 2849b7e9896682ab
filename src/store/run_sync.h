#pragma once
// Runs a coroutine to completion and returns its result: for command-line tools (export, import), the readiness
// check and tests, never on a server thread.
//
// The io_context is one per thread and lives as long as the thread: a store thread that posts a completion here may
// still be inside the post (signalling the condition variable the waiting thread woke on) when the result is in, so
// an io_context made and destroyed per call could be destroyed under it (ThreadSanitizer reports exactly that).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace dpd::store {

template <typename T>
T RunSync(boost::asio::awaitable<T> aw) {
  thread_local boost::asio::io_context io;
  io.restart();
  auto f = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.run();
  return f.get();
}

}  // namespace dpd::store
