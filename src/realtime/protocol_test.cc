#include "realtime/protocol.h"

#include <gtest/gtest.h>

namespace dpd::realtime {
namespace {

EnginePacket Text(EngineType t, std::string d) { return EnginePacket{t, std::move(d), false}; }
EnginePacket Bin(std::string d) { return EnginePacket{EngineType::kMessage, std::move(d), true}; }

TEST(ProtocolTest, Eio4Payloads) {
  auto p =
      EncodePayload({Text(EngineType::kMessage, "hello"), Text(EngineType::kPing, ""), Bin("\x01\x02\x03")}, 4, true);
  EXPECT_FALSE(p.binary);
  EXPECT_EQ(p.body,
            "4hello\x1e"
            "2\x1e"
            "bAQID");
  auto back = DecodePayload(p.body, false, 4);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[0].data, "hello");
  EXPECT_EQ((*back)[1].type, EngineType::kPing);
  EXPECT_TRUE((*back)[2].binary);
  EXPECT_EQ((*back)[2].data, "\x01\x02\x03");
}

TEST(ProtocolTest, Eio3TextPayloadsCountUtf16Units) {
  // "é" is 2 UTF-8 bytes but 1 UTF-16 unit; "😀" is 4 bytes and 2 units.
  auto p = EncodePayload({Text(EngineType::kMessage, "é😀"), Text(EngineType::kPong, "")}, 3, false);
  EXPECT_EQ(p.body, "4:4é😀1:3");
  EXPECT_FALSE(p.binary);
  // A client without b64=1 (XHR2) gets the binary framing even for text: lengths in bytes, as digits.
  auto b = EncodePayload({Text(EngineType::kMessage, "é😀"), Text(EngineType::kPong, "")}, 3, true);
  EXPECT_TRUE(b.binary);
  EXPECT_EQ(b.body, std::string("\0\x07\xFF"
                                "4é😀"
                                "\0\x01\xFF"
                                "3",
                                14));
  auto decoded = DecodePayload(b.body, true, 3);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ((*decoded)[0].data, "é😀");
  auto back = DecodePayload(p.body, false, 3);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0].data, "é😀");
  EXPECT_EQ((*back)[1].type, EngineType::kPong);
  EXPECT_EQ(EncodePayload({Bin("\x01")}, 3, false).body, "6:b4AQ==");
  for (std::string_view bad : {"", "5:4ab", "x:4", "2:", "1:9", "99999999999:4", "3:4é"}) {
    EXPECT_FALSE(DecodePayload(bad, false, 3).ok()) << bad;
  }
}

TEST(ProtocolTest, Eio3BinaryPayloads) {
  auto p = EncodePayload({Text(EngineType::kMessage, "hi"), Bin("\xAA\xBB")}, 3, true);
  EXPECT_TRUE(p.binary);
  const std::string expected(
      "\x00\x03\xFF"
      "4hi"
      "\x01\x03\xFF\x04\xAA\xBB",
      12);
  EXPECT_EQ(p.body, expected);
  auto back = DecodePayload(p.body, true, 3);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0].data, "hi");
  EXPECT_EQ((*back)[1].data, "\xAA\xBB");
  EXPECT_FALSE(DecodePayload(std::string("\x00\x09\xFF"
                                         "4hi",
                                         6),
                             true, 3)
                   .ok());
}

TEST(ProtocolTest, WebSocketFrames) {
  EXPECT_EQ(EncodeForWebSocket(Bin("xy"), 3), std::string("\x04xy", 3));
  EXPECT_EQ(EncodeForWebSocket(Bin("xy"), 4), "xy");
  auto p = DecodeWebSocket(std::string("\x04xy", 3), true, 3);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->data, "xy");
  EXPECT_FALSE(DecodeWebSocket("9x", false, 4).ok());
}

TEST(ProtocolTest, SocketIoPackets) {
  IoPacket e;
  e.data = json::array{"todos:changed", json::object{{"id", "1"}}};
  EXPECT_EQ(EncodeIo(e), R"(2["todos:changed",{"id":"1"}])");
  IoPacket c;
  c.type = IoType::kConnect;
  c.data = json::object{{"sid", "abc"}};
  EXPECT_EQ(EncodeIo(c), R"(0{"sid":"abc"})");
  auto d = DecodeIo(R"(2/admin,12["server:setSession",{"sid":"x"}])", 10, JsonLimits{});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->nsp, "/admin");
  EXPECT_EQ(*d->id, 12);
  EXPECT_EQ(d->data->as_array()[0].as_string(), "server:setSession");
  auto b = DecodeIo(R"(52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])", 10, JsonLimits{});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->attachments, 2u);
  EXPECT_FALSE(DecodeIo(R"(511-["x"])", 10, JsonLimits{}).ok()) << "over the attachment limit";
  for (std::string_view bad : {"", "9", "2", "2{}", "2[1]", "2[", "5x-[\"a\"]"}) {
    EXPECT_FALSE(DecodeIo(bad, 10, JsonLimits{}).ok()) << bad;
  }
  EXPECT_TRUE(DecodeIo("0", 10, JsonLimits{}).ok());
  EXPECT_TRUE(DecodeIo("1", 10, JsonLimits{}).ok());
}

}  // namespace
}  // namespace dpd::realtime
