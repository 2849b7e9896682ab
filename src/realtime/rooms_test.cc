// Rooms and identities without a transport: joins under the cap, bindings to sessions (user room, _rooms), a
// session that changes or ends, a member that leaves.
#include "realtime/rooms.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace dpd::realtime {
namespace {

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

session::Session MakeSession(std::string id, std::string uid, json::array rooms) {
  session::Session s;
  s.id = std::move(id);
  s.uid = std::move(uid);
  s.rooms = std::move(rooms);
  return s;
}

TEST(RoomsTest, JoinLeaveAndTheCap) {
  Rooms rooms(2);
  EXPECT_TRUE(rooms.Join("a", "r1"));
  EXPECT_TRUE(rooms.Join("a", "r1"));
  EXPECT_TRUE(rooms.Join("a", "r2"));
  EXPECT_FALSE(rooms.Join("a", "r3")) << "rooms per socket are capped";
  EXPECT_TRUE(rooms.Join("b", "r1"));
  EXPECT_EQ(Sorted(rooms.MembersOf({"r1"})), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Sorted(rooms.MembersOf({"r1", "r2"})), (std::vector<std::string>{"a", "b"})) << "each member once";
  EXPECT_TRUE(rooms.MembersOf({"r3"}).empty());
  rooms.Leave("a", "r1");
  EXPECT_EQ(rooms.MembersOf({"r1"}), std::vector<std::string>{"b"});
  rooms.Remove("b");
  EXPECT_TRUE(rooms.MembersOf({"r1"}).empty());
  EXPECT_EQ(rooms.room_count(), 1u) << "empty rooms are forgotten";
}

TEST(RoomsTest, BindingFollowsTheSession) {
  Rooms rooms(16);
  rooms.Join("a", "own");
  rooms.Bind("a", MakeSession("s1", "u1", json::array{"team", 7}));
  EXPECT_EQ(rooms.uid("a"), "u1");
  EXPECT_EQ(rooms.MembersOf({"dpd_uid:u1"}), std::vector<std::string>{"a"});
  EXPECT_EQ(rooms.MembersOf({"team"}), std::vector<std::string>{"a"});

  // The session's rooms change (a script's session.joinRoom/leaveRoom, saved).
  auto changed = std::make_shared<const session::Session>(MakeSession("s1", "u1", json::array{"other"}));
  rooms.SessionChanged("s1", changed);
  EXPECT_TRUE(rooms.MembersOf({"team"}).empty());
  EXPECT_EQ(rooms.MembersOf({"other"}), std::vector<std::string>{"a"});
  rooms.SessionChanged("nobody", nullptr);  // unknown sessions change nothing

  // Logout: the identity goes, the socket's own rooms stay.
  rooms.SessionChanged("s1", nullptr);
  EXPECT_EQ(rooms.uid("a"), "");
  EXPECT_TRUE(rooms.MembersOf({"dpd_uid:u1", "other"}).empty());
  EXPECT_EQ(rooms.MembersOf({"own"}), std::vector<std::string>{"a"});
}

TEST(RoomsTest, ABindingReplacesTheLastOne) {
  Rooms rooms(16);
  rooms.Bind("a", MakeSession("s1", "u1", json::array{"x"}));
  rooms.Bind("a", MakeSession("s2", "u2", json::array{}));
  EXPECT_TRUE(rooms.MembersOf({"dpd_uid:u1", "x"}).empty());
  EXPECT_EQ(rooms.MembersOf({"dpd_uid:u2"}), std::vector<std::string>{"a"});
  rooms.SessionChanged("s1", nullptr);  // the old session ending does not touch the new binding
  EXPECT_EQ(rooms.uid("a"), "u2");
  rooms.Remove("a");
  EXPECT_EQ(rooms.room_count(), 0u);
  EXPECT_EQ(rooms.uid("a"), "");
}

}  // namespace
}  // namespace dpd::realtime
