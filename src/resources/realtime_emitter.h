#pragma once
// emit() delivered to sockets (spec §6.7): everyone, a room, or the users a query selects on a user collection —
// run in-process through the router as a root internal GET, then sent to each user's room "dpd_uid:<id>".
// Thread-safe.

#include "realtime/hub.h"
#include "resources/emitter.h"

namespace dpd::resources {

class RealtimeEmitter : public Emitter {
 public:
  explicit RealtimeEmitter(realtime::Hub* hub) : hub_(hub) {}
  void Emit(const EmitMessage& message, const boost::asio::any_io_executor& executor) override;

 private:
  realtime::Hub* hub_;
};

}  // namespace dpd::resources
