#pragma once
// Where emits and session changes travel (ARCHITECTURE §7). Scripts' emit() and the session store publish here;
// the bus hands each message to the hub of every node that has sockets, which delivers it to its own sockets
// (rooms and identities: realtime/rooms.h; transports: realtime/hub.h). LocalBus is the single-node bus; a Redis
// bus (issue #17) publishes the same three messages across nodes and delivers what it receives to its local hub.
//
// Thread-safety: every method may be called from any thread.

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

#include "json/json.h"
#include "realtime/hub.h"
#include "session/session_store.h"

namespace dpd::realtime {

class Bus {
 public:
  virtual ~Bus() = default;
  // socket.io EVENT `event` with `data` to every socket (rooms empty) or the sockets in any of `rooms`, everywhere.
  virtual void Publish(std::vector<std::string> rooms, const std::string& event, const json::value& data) = 0;
  // A stored session changed (`session` set) or ended (null): its sockets follow, everywhere.
  virtual void SessionChanged(const std::string& sid, const session::SessionPtr& session) = 0;
  // Completes once everything published before it from this thread has been handed to this node's socket writers.
  virtual boost::asio::awaitable<void> Fence() = 0;
};

// One node: straight to the local hub.
class LocalBus final : public Bus {
 public:
  explicit LocalBus(Hub* hub) : hub_(hub) {}
  void Publish(std::vector<std::string> rooms, const std::string& event, const json::value& data) override {
    hub_->Emit(std::move(rooms), event, data);
  }
  void SessionChanged(const std::string& sid, const session::SessionPtr& session) override {
    hub_->SessionChanged(sid, session);
  }
  boost::asio::awaitable<void> Fence() override { return hub_->Fence(); }

 private:
  Hub* hub_;
};

}  // namespace dpd::realtime
