#pragma once
// Engine.IO and socket.io wire formats, both generations (spec §12, ARCHITECTURE §7):
//
// * Engine.IO 4 (socket.io-client 3.x/4.x): packets "<type><data>"; HTTP long-polling payloads join packets with
//   the record separator \x1e; a binary packet in a polling payload is "b<base64>"; over WebSocket binary packets
//   are raw binary frames.
// * Engine.IO 3 (socket.io-client 1.x/2.x, what Deployd shipped): polling text payloads frame each packet as
//   "<length>:<packet>" where length counts UTF-16 code units (JavaScript string length); binary packets in text
//   payloads are "b4<base64>"; binary payloads (no b64=1) frame each packet as <0|1><decimal digits as bytes>0xFF
//   <packet>; over WebSocket a binary packet is one frame whose first byte is the packet type (4).
// * socket.io packets ride in engine "message" packets: "<type>[<attachments>-][<nsp>,][<ack id>][<json>]".
//
// Pure functions, no I/O. Thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "json/json.h"

namespace dpd::realtime {

enum class EngineType : char {
  kOpen = '0',
  kClose = '1',
  kPing = '2',
  kPong = '3',
  kMessage = '4',
  kUpgrade = '5',
  kNoop = '6'
};

struct EnginePacket {
  EngineType type = EngineType::kMessage;
  std::string data;  // text, or the bytes of a binary packet
  bool binary = false;
};

// One packet as a WebSocket text frame ("4…"), or the bytes of a binary frame (EIO 3 prefixes the type byte).
std::string EncodeForWebSocket(const EnginePacket& p, int eio);
// A WebSocket frame back into a packet.
Result<EnginePacket> DecodeWebSocket(std::string_view frame, bool binary_frame, int eio);

// Polling payloads. `binary_ok`: EIO 3 without b64=1 — every payload uses the binary framing.
struct Payload {
  std::string body;
  bool binary = false;  // Content-Type application/octet-stream
};
Payload EncodePayload(const std::vector<EnginePacket>& packets, int eio, bool binary_ok);
// The same from packets shared between sockets' queues (a broadcast is encoded once, RELIABILITY B2).
Payload EncodePayload(const std::vector<std::shared_ptr<const EnginePacket>>& packets, int eio, bool binary_ok);
Result<std::vector<EnginePacket>> DecodePayload(std::string_view body, bool binary_body, int eio);

// The number of UTF-16 code units of a UTF-8 string (JavaScript's length).
std::size_t Utf16Length(std::string_view utf8);

// socket.io packets.
enum class IoType {
  kConnect = 0,
  kDisconnect = 1,
  kEvent = 2,
  kAck = 3,
  kConnectError = 4,
  kBinaryEvent = 5,
  kBinaryAck = 6
};

struct IoPacket {
  IoType type = IoType::kEvent;
  std::string nsp = "/";
  std::optional<std::int64_t> id;  // ack id
  std::size_t attachments = 0;     // binary packets that follow (5, 6)
  std::optional<json::value> data;
};

std::string EncodeIo(const IoPacket& p);
// `max_attachments` bounds a binary packet's announced attachments (RELIABILITY B2: 10).
Result<IoPacket> DecodeIo(std::string_view text, std::size_t max_attachments, const JsonLimits& limits);

}  // namespace dpd::realtime
