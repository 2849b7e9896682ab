// C0, the ceiling of PERFORMANCE.md: a minimal keep-alive HTTP/1.1 server (Beast, one io_context per thread, one
// acceptor handing sockets round-robin — the same shape as dpd's server) that answers every request with a small
// JSON body and does no other work. Bench-only: never part of the product.
//
//   ceiling <port> [threads]

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kTuple);
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"ok\":true}";
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
    if (wec || !req.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: ceiling <port> [threads]\n";
    return 1;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  const unsigned threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : std::thread::hardware_concurrency();
  std::vector<std::unique_ptr<asio::io_context>> workers;
  for (unsigned i = 0; i < threads; ++i) workers.push_back(std::make_unique<asio::io_context>(1));
  tcp::acceptor acceptor(*workers[0], tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::co_spawn(
      *workers[0],
      [&]() -> asio::awaitable<void> {
        for (unsigned next = 0;; ++next) {
          auto& ioc = *workers[next % workers.size()];
          auto [ec, socket] = co_await acceptor.async_accept(ioc, kTuple);
          if (ec) continue;
          socket.set_option(tcp::no_delay(true));
          asio::co_spawn(ioc, Serve(std::move(socket)), asio::detached);
        }
      },
      asio::detached);
  std::cout << "listening on port " << acceptor.local_endpoint().port() << std::endl;
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      auto guard = asio::make_work_guard(*workers[i]);
      workers[i]->run();
    });
  }
  for (auto& t : pool) t.join();
}
