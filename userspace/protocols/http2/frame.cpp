#include "protocols/http2/frame.h"

namespace zerotrace::protocols {

FrameHeader ParseFrameHeader(std::span<const uint8_t> in) {
  FrameHeader h;
  h.length = (uint32_t{in[0]} << 16) | (uint32_t{in[1]} << 8) | in[2];
  h.type = in[3];
  h.flags = in[4];
  h.stream_id =
      ((uint32_t{in[5]} << 24) | (uint32_t{in[6]} << 16) | (uint32_t{in[7]} << 8) | in[8]) &
      0x7fffffffu;
  return h;
}

void AppendFrameHeader(const FrameHeader& h, std::string* out) {
  out->push_back(static_cast<char>((h.length >> 16) & 0xff));
  out->push_back(static_cast<char>((h.length >> 8) & 0xff));
  out->push_back(static_cast<char>(h.length & 0xff));
  out->push_back(static_cast<char>(h.type));
  out->push_back(static_cast<char>(h.flags));
  out->push_back(static_cast<char>((h.stream_id >> 24) & 0x7f));
  out->push_back(static_cast<char>((h.stream_id >> 16) & 0xff));
  out->push_back(static_cast<char>((h.stream_id >> 8) & 0xff));
  out->push_back(static_cast<char>(h.stream_id & 0xff));
}

bool IsPlausibleFrameHeader(const FrameHeader& h) {
  // Peers may raise SETTINGS_MAX_FRAME_SIZE, but frames above 1 MiB are implausible in practice.
  if (h.length > (1u << 20)) return false;
  switch (static_cast<FrameType>(h.type)) {
    case FrameType::kData:
    case FrameType::kHeaders:
    case FrameType::kContinuation:
    case FrameType::kPushPromise:
      return h.stream_id != 0;
    case FrameType::kPriority:
      return h.stream_id != 0 && h.length == 5;
    case FrameType::kRstStream:
      return h.stream_id != 0 && h.length == 4;
    case FrameType::kSettings:
      return h.stream_id == 0 && h.length % 6 == 0 && (h.flags & ~frame_flags::kAck) == 0;
    case FrameType::kPing:
      return h.stream_id == 0 && h.length == 8;
    case FrameType::kGoaway:
      return h.stream_id == 0 && h.length >= 8;
    case FrameType::kWindowUpdate:
      return h.length == 4;
  }
  return false;
}

bool LooksLikeHttp2Preface(std::string_view data) {
  const size_t n = data.size() < kHttp2Preface.size() ? data.size() : kHttp2Preface.size();
  return n >= 4 && data.substr(0, n) == kHttp2Preface.substr(0, n);
}

bool LooksLikeHttp2Frames(std::span<const uint8_t> data, bool truncated) {
  size_t pos = 0;
  int frames = 0;
  while (pos + kFrameHeaderSize <= data.size()) {
    const FrameHeader h = ParseFrameHeader(data.subspan(pos));
    if (!IsPlausibleFrameHeader(h)) return false;
    ++frames;
    pos += kFrameHeaderSize + h.length;
  }
  // Two whole frames before a partial one (a read that ends mid-frame) are HTTP/2 enough.
  return frames > 0 && (pos == data.size() || truncated || frames >= 3);
}

}  // namespace zerotrace::protocols
