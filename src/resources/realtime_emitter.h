#pragma once
// emit() delivered to sockets (spec §6.7): everyone, a room, or the users a query selects on a user collection —
// run in-process through the emitting request's router as a root internal GET, then sent to each user's room
// "dpd_uid:<id>". Everything goes out through the realtime Bus.
// Thread-safe.

#include "realtime/bus.h"
#include "resources/emitter.h"

namespace dpd::resources {

class RealtimeEmitter : public Emitter {
 public:
  explicit RealtimeEmitter(realtime::Bus* bus) : bus_(bus) {}
  void Emit(const EmitMessage& message, const boost::asio::any_io_executor& executor) override;

 private:
  realtime::Bus* bus_;
};

}  // namespace dpd::resources
