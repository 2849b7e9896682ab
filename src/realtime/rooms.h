#pragma once
// The rooms and identities of this node's sockets (spec §8.4, §12), apart from any transport: which socket is in
// which room, which stored session (and so which user) it is bound to — the user's room "dpd_uid:<uid>" and the
// session's `_rooms` follow the binding. Members are sockets by their engine.io id.
//
// Bounded: rooms per member (RealtimeLimits::rooms_per_socket; a join beyond is ignored and logged).
// Thread-safety: none; the hub uses it on its own thread only.

#include <cstddef>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "json/json.h"
#include "session/session_store.h"

namespace dpd::realtime {

class Rooms {
 public:
  explicit Rooms(std::size_t rooms_per_member) : rooms_per_member_(rooms_per_member) {}

  // False when the member is at its cap (nothing changes); true also when it was in the room already.
  bool Join(const std::string& member, const std::string& room);
  void Leave(const std::string& member, const std::string& room);

  // Binds `member` to `session` (replacing an earlier binding): joins "dpd_uid:<uid>" and the session's rooms.
  void Bind(const std::string& member, const session::Session& session);
  // The member keeps its own rooms but loses the session's and its user's.
  void Unbind(const std::string& member);
  // A stored session changed (`session` set: its members follow its rooms) or ended (null: they are unbound).
  void SessionChanged(const std::string& sid, const session::SessionPtr& session);
  // The member is gone (socket closed): out of every room and binding.
  void Remove(const std::string& member);

  // The members in any of `rooms`, each once.
  std::vector<std::string> MembersOf(const std::vector<std::string>& rooms) const;
  // The member's user id ("" when unbound).
  const std::string& uid(const std::string& member) const;
  std::size_t room_count() const { return rooms_.size(); }

 private:
  struct Member {
    std::set<std::string> rooms;
    std::set<std::string> session_rooms;  // the rooms that came from the session (_rooms)
    std::string session_id, uid;
  };
  void SetSessionRooms(const std::string& id, Member& m, const json::array& list);

  std::size_t rooms_per_member_;
  std::unordered_map<std::string, Member> members_;
  std::unordered_map<std::string, std::unordered_set<std::string>> rooms_;       // room → members
  std::unordered_map<std::string, std::unordered_set<std::string>> by_session_;  // session id → members
};

}  // namespace dpd::realtime
