#include "realtime/rooms.h"

#include "base/log.h"

namespace dpd::realtime {

bool Rooms::Join(const std::string& member, const std::string& room) {
  Member& m = members_[member];
  if (m.rooms.count(room)) return true;
  if (m.rooms.size() >= rooms_per_member_) {
    spdlog::warn("realtime: socket in {} rooms; join of \"{}\" ignored", m.rooms.size(), room);
    return false;
  }
  m.rooms.insert(room);
  rooms_[room].insert(member);
  return true;
}

void Rooms::Leave(const std::string& member, const std::string& room) {
  auto m = members_.find(member);
  if (m == members_.end() || m->second.rooms.erase(room) == 0) return;
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  it->second.erase(member);
  if (it->second.empty()) rooms_.erase(it);
}

void Rooms::SetSessionRooms(const std::string& id, Member& m, const json::array& list) {
  std::set<std::string> wanted;
  for (const auto& r : list) {
    if (r.is_string()) wanted.insert(std::string(r.as_string()));
  }
  for (auto it = m.session_rooms.begin(); it != m.session_rooms.end();) {
    if (!wanted.count(*it)) {
      Leave(id, *it);
      it = m.session_rooms.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& r : wanted) {
    if (m.session_rooms.insert(r).second) Join(id, r);
  }
}

void Rooms::Bind(const std::string& member, const session::Session& session) {
  Unbind(member);  // a socket belongs to one session
  Member& m = members_[member];
  m.session_id = session.id;
  m.uid = session.uid;
  by_session_[session.id].insert(member);
  if (!m.uid.empty()) Join(member, "dpd_uid:" + m.uid);
  SetSessionRooms(member, members_[member], session.rooms);
}

void Rooms::Unbind(const std::string& member) {
  auto found = members_.find(member);
  if (found == members_.end() || found->second.session_id.empty()) return;
  Member& m = found->second;
  if (auto it = by_session_.find(m.session_id); it != by_session_.end()) {
    it->second.erase(member);
    if (it->second.empty()) by_session_.erase(it);
  }
  if (!m.uid.empty()) Leave(member, "dpd_uid:" + m.uid);
  for (const auto& r : m.session_rooms) Leave(member, r);
  m.session_rooms.clear();
  m.session_id.clear();
  m.uid.clear();
}

void Rooms::SessionChanged(const std::string& sid, const session::SessionPtr& session) {
  auto it = by_session_.find(sid);
  if (it == by_session_.end()) return;
  const std::vector<std::string> bound(it->second.begin(), it->second.end());
  for (const auto& member : bound) {
    if (!session) {
      Unbind(member);  // logout, credential change, deletion: the socket loses its identity
    } else {
      SetSessionRooms(member, members_[member], session->rooms);
    }
  }
}

void Rooms::Remove(const std::string& member) {
  Unbind(member);
  auto found = members_.find(member);
  if (found == members_.end()) return;
  for (const auto& r : found->second.rooms) {
    auto it = rooms_.find(r);
    if (it == rooms_.end()) continue;
    it->second.erase(member);
    if (it->second.empty()) rooms_.erase(it);
  }
  members_.erase(found);
}

std::vector<std::string> Rooms::MembersOf(const std::vector<std::string>& rooms) const {
  std::unordered_set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& r : rooms) {
    auto it = rooms_.find(r);
    if (it == rooms_.end()) continue;
    for (const auto& m : it->second) {
      if (seen.insert(m).second) out.push_back(m);
    }
  }
  return out;
}

const std::string& Rooms::uid(const std::string& member) const {
  static const std::string kNone;
  auto it = members_.find(member);
  return it == members_.end() ? kNone : it->second.uid;
}

}  // namespace dpd::realtime
