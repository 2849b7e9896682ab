#include "resources/emitter.h"

#include "base/log.h"

namespace dpd::resources {

bool ReadEmit(const json::array& args, EmitMessage& out) {
  auto text = [](const json::value& v) { return v.is_string() ? std::string(v.as_string()) : json::Write(v); };
  switch (args.size()) {
    case 1:
    case 2:
      out.target = EmitMessage::Target::kAll;
      out.event = text(args[0]);
      out.data = args.size() == 2 ? args[1] : json::value(nullptr);
      return true;
    case 3:
      out.target = EmitMessage::Target::kRoom;
      out.room = text(args[0]);
      out.event = text(args[1]);
      out.data = args[2];
      return true;
    case 4: {
      const json::value* client = args[0].is_object() ? args[0].as_object().if_contains("$client") : nullptr;
      if (client == nullptr || !client->is_string()) return false;
      out.target = EmitMessage::Target::kUsers;
      out.users_path = std::string(client->as_string());
      out.users_query = args[1];
      out.event = text(args[2]);
      out.data = args[3];
      return true;
    }
    default: return false;
  }
}

void LogEmitter::Emit(const EmitMessage& m, const boost::asio::any_io_executor&) {
  const char* target = m.target == EmitMessage::Target::kAll    ? "all"
                       : m.target == EmitMessage::Target::kRoom ? "room"
                                                                : "users";
  spdlog::debug("emit target={} room=\"{}\" users={} event=\"{}\" data={}", target, m.room, m.users_path, m.event,
                json::Write(m.data));
}

}  // namespace dpd::resources
