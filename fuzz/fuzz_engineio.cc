// Engine.IO 3/4 payloads and WebSocket frames, socket.io packets (with binary attachments): never a crash; what
// decodes encodes back to something that decodes to the same packets.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/fuzz_util.h"
#include "realtime/protocol.h"

namespace rt = dpd::realtime;

namespace {

bool Same(const rt::EnginePacket& a, const rt::EnginePacket& b) {
  return a.type == b.type && a.data == b.data && a.binary == b.binary;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // First byte: the generation (3 or 4), the body kind (text / binary) and what the rest is.
  const std::uint8_t mode = data[0];
  const int eio = (mode & 1) ? 4 : 3;
  const bool binary = (mode & 2) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const dpd::JsonLimits limits = dpd::fuzz::SmallJsonLimits();
  switch ((mode >> 2) % 3) {
    case 0: {
      auto packets = rt::DecodePayload(rest, binary, eio);
      if (!packets.ok()) return 0;
      // EIO 3 without b64 frames every payload in binary; otherwise text.
      const bool binary_ok = eio == 3 && binary;
      rt::Payload p = rt::EncodePayload(*packets, eio, binary_ok);
      auto again = rt::DecodePayload(p.body, p.binary, eio);
      if (!again.ok() || again->size() != packets->size()) dpd::fuzz::Fail();
      for (std::size_t i = 0; i < packets->size(); ++i) {
        if (!Same((*packets)[i], (*again)[i])) dpd::fuzz::Fail();
      }
      break;
    }
    case 1: {
      auto packet = rt::DecodeWebSocket(rest, binary, eio);
      if (!packet.ok()) return 0;
      const std::string frame = rt::EncodeForWebSocket(*packet, eio);
      auto again = rt::DecodeWebSocket(frame, packet->binary, eio);
      if (!again.ok() || !Same(*packet, *again)) dpd::fuzz::Fail();
      break;
    }
    default: {
      auto io = rt::DecodeIo(rest, 10, limits);
      if (!io.ok()) return 0;
      if (io->attachments > 10) dpd::fuzz::Fail();
      // A bare number right after the type reads back as an ack id ("4-0" → data 0 → "40"): the protocol's own
      // ambiguity, and the server never sends one (its events are arrays). Every other packet must round-trip.
      if (io->data && io->data->is_number()) return 0;
      const std::string text = rt::EncodeIo(*io);
      auto again = rt::DecodeIo(text, 10, limits);
      if (!again.ok() || again->type != io->type || again->nsp != io->nsp || again->id != io->id ||
          again->attachments != io->attachments || again->data.has_value() != io->data.has_value() ||
          (io->data && !dpd::fuzz::SameJson(*again->data, *io->data))) {
        dpd::fuzz::Fail();
      }
      break;
    }
  }
  (void)rt::Utf16Length(rest);
  return 0;
}
