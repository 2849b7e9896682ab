#pragma once
// Where event scripts' emit() goes (spec §6.7). The realtime module delivers to sockets; until it is configured,
// LogEmitter writes each emit to the log at debug level. Emits are never awaited and never fail a request.
//
// Thread-safety: Emit is called from every worker thread.

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>

#include "json/json.h"

namespace dpd::resources {

class Router;

struct EmitMessage {
  enum class Target { kAll, kRoom, kUsers };
  Target target = Target::kAll;
  std::string room;         // kRoom
  std::string users_path;   // kUsers: the user collection ("/users") …
  json::value users_query;  // … and the query selecting the users (each gets room "dpd_uid:<id>")
  std::string event;
  json::value data;                      // null when none was given
  std::shared_ptr<const Router> router;  // kUsers: the emitting request's router, which runs the query
};

// Reads the arguments of emit() (as JSON; a users client as {"$client": path}) in the forms of spec §6.7:
// (event), (event, data), (room, event, data), (usersClient, query, event, data). False for anything else.
bool ReadEmit(const json::array& args, EmitMessage& out);

class Emitter {
 public:
  virtual ~Emitter() = default;
  // `executor`: the calling worker's, for work the emit needs (the users form runs a query).
  virtual void Emit(const EmitMessage& message, const boost::asio::any_io_executor& executor) = 0;
};

class LogEmitter : public Emitter {
 public:
  void Emit(const EmitMessage& message, const boost::asio::any_io_executor& executor) override;
};

}  // namespace dpd::resources
