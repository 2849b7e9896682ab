#include "realtime/protocol.h"

#include <array>
#include <charconv>

namespace dpd::realtime {
namespace {

constexpr char kSeparator = '\x1e';
constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto a = static_cast<unsigned char>(in[i]), b = static_cast<unsigned char>(in[i + 1]),
               c = static_cast<unsigned char>(in[i + 2]);
    out += kB64[a >> 2];
    out += kB64[((a & 3) << 4) | (b >> 4)];
    out += kB64[((b & 15) << 2) | (c >> 6)];
    out += kB64[c & 63];
  }
  if (i + 1 == in.size()) {
    const auto a = static_cast<unsigned char>(in[i]);
    out += kB64[a >> 2];
    out += kB64[(a & 3) << 4];
    out += "==";
  } else if (i + 2 == in.size()) {
    const auto a = static_cast<unsigned char>(in[i]), b = static_cast<unsigned char>(in[i + 1]);
    out += kB64[a >> 2];
    out += kB64[((a & 3) << 4) | (b >> 4)];
    out += kB64[(b & 15) << 2];
    out += '=';
  }
  return out;
}

Result<std::string> Unbase64(std::string_view in) {
  static const std::array<int, 256> table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (std::size_t i = 0; i < kB64.size(); ++i) t[static_cast<unsigned char>(kB64[i])] = static_cast<int>(i);
    return t;
  }();
  std::string out;
  int bits = 0, value = 0;
  for (char ch : in) {
    if (ch == '=') break;
    const int v = table[static_cast<unsigned char>(ch)];
    if (v < 0) return Status::BadRequest("invalid base64");
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xFF);
    }
  }
  return out;
}

bool ValidType(char c) { return c >= '0' && c <= '6'; }

// A packet from its text form ("4hello", or "b…" for base64 binary: "b<base64>" in EIO 4, "b4<base64>" in EIO 3).
Result<EnginePacket> FromText(std::string_view s, int eio) {
  if (s.empty()) return Status::BadRequest("empty packet");
  EnginePacket p;
  if (s[0] == 'b') {
    std::string_view rest = s.substr(1);
    if (eio == 3) {
      if (rest.empty() || !ValidType(rest[0])) return Status::BadRequest("invalid binary packet");
      p.type = static_cast<EngineType>(rest[0]);
      rest.remove_prefix(1);
    }
    auto bytes = Unbase64(rest);
    if (!bytes.ok()) return bytes.status();
    p.data = std::move(*bytes);
    p.binary = true;
    return p;
  }
  if (!ValidType(s[0])) return Status::BadRequest("invalid packet type");
  p.type = static_cast<EngineType>(s[0]);
  p.data = std::string(s.substr(1));
  return p;
}

std::string ToText(const EnginePacket& p, int eio) {
  if (!p.binary) return std::string(1, static_cast<char>(p.type)) + p.data;
  return eio == 3 ? "b" + std::string(1, static_cast<char>(p.type)) + Base64(p.data) : "b" + Base64(p.data);
}

// Advances over `units` UTF-16 code units of `s`; npos when the string is shorter.
std::size_t Utf16Advance(std::string_view s, std::size_t units) {
  std::size_t i = 0;
  while (units > 0) {
    if (i >= s.size()) return std::string_view::npos;
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    const std::size_t u = len == 4 ? 2 : 1;
    if (u > units) return std::string_view::npos;  // a surrogate pair split by the length: malformed
    units -= u;
    i += len;
  }
  return i <= s.size() ? i : std::string_view::npos;
}

}  // namespace

std::size_t Utf16Length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    n += len == 4 ? 2 : 1;
    i += len;
  }
  return n;
}

std::string EncodeForWebSocket(const EnginePacket& p, int eio) {
  if (!p.binary) return std::string(1, static_cast<char>(p.type)) + p.data;
  if (eio == 3) return std::string(1, static_cast<char>(static_cast<char>(p.type) - '0')) + p.data;
  return p.data;
}

Result<EnginePacket> DecodeWebSocket(std::string_view frame, bool binary_frame, int eio) {
  if (!binary_frame) return FromText(frame, eio);
  EnginePacket p;
  p.binary = true;
  if (eio == 3) {
    if (frame.empty() || static_cast<unsigned char>(frame[0]) > 6) return Status::BadRequest("invalid binary frame");
    p.type = static_cast<EngineType>('0' + frame[0]);
    p.data = std::string(frame.substr(1));
  } else {
    p.data = std::string(frame);
  }
  return p;
}

namespace {

// `at(i)` is the i-th packet: the payload is built from packets held by value or shared.
template <typename At>
Payload EncodePayloadOf(std::size_t count, At at, int eio, bool binary_ok) {
  Payload out;
  if (eio != 3) {
    for (std::size_t i = 0; i < count; ++i) {
      if (i) out.body += kSeparator;
      out.body += ToText(at(i), eio);
    }
    return out;
  }
  // A client that may take binary (EIO 3 without b64=1) gets the binary framing for every payload, as Engine.IO 3
  // servers send it: socket.io-client 1.x over XHR2 reads nothing else.
  if (binary_ok) {
    out.binary = true;
    for (std::size_t i = 0; i < count; ++i) {
      const EnginePacket& p = at(i);
      std::string bytes = p.binary ? std::string(1, static_cast<char>(static_cast<char>(p.type) - '0')) + p.data
                                   : std::string(1, static_cast<char>(p.type)) + p.data;
      out.body += static_cast<char>(p.binary ? 1 : 0);
      for (char d : std::to_string(bytes.size())) out.body += static_cast<char>(d - '0');
      out.body += static_cast<char>(0xFF);
      out.body += bytes;
    }
    return out;
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::string text = ToText(at(i), eio);
    out.body += std::to_string(Utf16Length(text)) + ":" + text;
  }
  return out;
}

}  // namespace

Payload EncodePayload(const std::vector<EnginePacket>& packets, int eio, bool binary_ok) {
  return EncodePayloadOf(
      packets.size(), [&](std::size_t i) -> const EnginePacket& { return packets[i]; }, eio, binary_ok);
}

Payload EncodePayload(const std::vector<std::shared_ptr<const EnginePacket>>& packets, int eio, bool binary_ok) {
  return EncodePayloadOf(
      packets.size(), [&](std::size_t i) -> const EnginePacket& { return *packets[i]; }, eio, binary_ok);
}

Result<std::vector<EnginePacket>> DecodePayload(std::string_view body, bool binary_body, int eio) {
  std::vector<EnginePacket> out;
  if (eio != 3) {
    std::size_t start = 0;
    while (start <= body.size()) {
      std::size_t end = body.find(kSeparator, start);
      if (end == std::string_view::npos) end = body.size();
      auto p = FromText(body.substr(start, end - start), eio);
      if (!p.ok()) return p.status();
      out.push_back(std::move(*p));
      start = end + 1;
    }
    return out;
  }
  if (binary_body) {
    std::size_t i = 0;
    while (i < body.size()) {
      const bool is_binary = body[i] == 1;
      if (body[i] != 0 && body[i] != 1) return Status::BadRequest("invalid binary payload");
      ++i;
      std::size_t length = 0, digits = 0;
      while (i < body.size() && static_cast<unsigned char>(body[i]) != 0xFF) {
        if (static_cast<unsigned char>(body[i]) > 9 || ++digits > 9) return Status::BadRequest("invalid length");
        length = length * 10 + static_cast<unsigned char>(body[i]);
        ++i;
      }
      if (i >= body.size() || digits == 0) return Status::BadRequest("invalid binary payload");
      ++i;
      if (length == 0 || length > body.size() - i) return Status::BadRequest("truncated binary payload");
      std::string_view bytes = body.substr(i, length);
      i += length;
      if (is_binary) {
        auto p = DecodeWebSocket(bytes, true, 3);
        if (!p.ok()) return p.status();
        out.push_back(std::move(*p));
      } else {
        auto p = FromText(bytes, 3);
        if (!p.ok()) return p.status();
        out.push_back(std::move(*p));
      }
    }
    return out;
  }
  std::size_t i = 0;
  while (i < body.size()) {
    std::size_t colon = body.find(':', i);
    if (colon == std::string_view::npos || colon == i || colon - i > 9) return Status::BadRequest("invalid payload");
    std::size_t units = 0;
    auto [ptr, ec] = std::from_chars(body.data() + i, body.data() + colon, units);
    if (ec != std::errc() || ptr != body.data() + colon) return Status::BadRequest("invalid payload length");
    std::string_view rest = body.substr(colon + 1);
    std::size_t bytes = Utf16Advance(rest, units);
    if (bytes == std::string_view::npos || units == 0) return Status::BadRequest("invalid payload length");
    auto p = FromText(rest.substr(0, bytes), 3);
    if (!p.ok()) return p.status();
    out.push_back(std::move(*p));
    i = colon + 1 + bytes;
  }
  if (out.empty()) return Status::BadRequest("empty payload");
  return out;
}

std::string EncodeIo(const IoPacket& p) {
  std::string s(1, static_cast<char>('0' + static_cast<int>(p.type)));
  if (p.type == IoType::kBinaryEvent || p.type == IoType::kBinaryAck) s += std::to_string(p.attachments) + "-";
  if (p.nsp != "/") s += p.nsp + ",";
  if (p.id) s += std::to_string(*p.id);
  if (p.data) s += json::Write(*p.data);
  return s;
}

Result<IoPacket> DecodeIo(std::string_view s, std::size_t max_attachments, const JsonLimits& limits) {
  if (s.empty() || s[0] < '0' || s[0] > '6') return Status::BadRequest("invalid socket.io packet type");
  IoPacket p;
  p.type = static_cast<IoType>(s[0] - '0');
  std::size_t i = 1;
  if (p.type == IoType::kBinaryEvent || p.type == IoType::kBinaryAck) {
    std::size_t dash = s.find('-', i);
    if (dash == std::string_view::npos || dash == i || dash - i > 6) return Status::BadRequest("invalid attachments");
    auto [ptr, ec] = std::from_chars(s.data() + i, s.data() + dash, p.attachments);
    if (ec != std::errc() || ptr != s.data() + dash) return Status::BadRequest("invalid attachments");
    if (p.attachments > max_attachments) return Status::BadRequest("too many attachments");
    i = dash + 1;
  }
  if (i < s.size() && s[i] == '/') {
    std::size_t comma = s.find(',', i);
    std::size_t end = comma == std::string_view::npos ? s.size() : comma;
    p.nsp = std::string(s.substr(i, end - i));
    i = comma == std::string_view::npos ? s.size() : comma + 1;
  }
  std::size_t id_start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - id_start < 16) ++i;
  if (i > id_start) {
    std::int64_t id = 0;
    std::from_chars(s.data() + id_start, s.data() + i, id);
    p.id = id;
  }
  if (i < s.size()) {
    auto data = json::Parse(s.substr(i), limits);
    if (!data.ok()) return Status::BadRequest("invalid socket.io payload: " + data.status().message());
    p.data = std::move(*data);
  }
  if ((p.type == IoType::kEvent || p.type == IoType::kBinaryEvent) &&
      (!p.data || !p.data->is_array() || p.data->as_array().empty() || !p.data->as_array()[0].is_string())) {
    return Status::BadRequest("an event needs [\"name\", …]");
  }
  return p;
}

}  // namespace dpd::realtime
