#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common/request_record.h"
#include "protocols/http2/frame.h"
#include "protocols/http2/huffman.h"

namespace zerotrace::protocols::testing {

// "8286 84be" -> bytes; whitespace ignored.
inline std::string Hex(std::string_view hex) {
  std::string out;
  int nibble = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      continue;
    }
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<char>((nibble << 4) | v));
      nibble = -1;
    }
  }
  return out;
}

inline std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// Minimal HPACK encoder for tests: literal fields, optionally indexed, optionally Huffman.
inline void AppendInt(int prefix_bits, uint8_t first, uint64_t v, std::string* out) {
  const uint64_t max = (1u << prefix_bits) - 1;
  if (v < max) {
    out->push_back(static_cast<char>(first | v));
    return;
  }
  out->push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline void AppendString(std::string_view s, bool huffman, std::string* out) {
  if (huffman) {
    std::string h;
    HuffmanEncode(s, &h);
    AppendInt(7, 0x80, h.size(), out);
    out->append(h);
  } else {
    AppendInt(7, 0, s.size(), out);
    out->append(s);
  }
}

// Literal with incremental indexing (0x40) when `index` is true, else without indexing (0x00).
inline std::string EncodeBlock(const Fields& fields, bool index = false, bool huffman = false) {
  std::string out;
  for (const auto& [n, v] : fields) {
    out.push_back(index ? 0x40 : 0x00);
    AppendString(n, huffman, &out);
    AppendString(v, huffman, &out);
  }
  return out;
}

inline std::string Frame(FrameType type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string out;
  FrameHeader h;
  h.length = static_cast<uint32_t>(payload.size());
  h.type = static_cast<uint8_t>(type);
  h.flags = flags;
  h.stream_id = stream;
  AppendFrameHeader(h, &out);
  out.append(payload);
  return out;
}

inline DataEvent Event(Direction d, uint64_t ts, std::string_view data, uint64_t size = 0) {
  DataEvent e;
  e.direction = d;
  e.timestamp_ns = ts;
  e.captured = Bytes(data);
  e.size = size == 0 ? data.size() : size;
  return e;
}

}  // namespace zerotrace::protocols::testing
