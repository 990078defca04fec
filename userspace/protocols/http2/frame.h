#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace zerotrace::protocols {

inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kFrameHeaderSize = 9;

enum class FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};

namespace frame_flags {
inline constexpr uint8_t kEndStream = 0x1;
inline constexpr uint8_t kAck = 0x1;
inline constexpr uint8_t kEndHeaders = 0x4;
inline constexpr uint8_t kPadded = 0x8;
inline constexpr uint8_t kPriority = 0x20;
}  // namespace frame_flags

inline constexpr uint16_t kSettingsHeaderTableSize = 0x1;

struct FrameHeader {
  uint32_t length = 0;  // 24 bits
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // reserved bit cleared
};

// `in` must hold at least kFrameHeaderSize bytes.
FrameHeader ParseFrameHeader(std::span<const uint8_t> in);
void AppendFrameHeader(const FrameHeader& h, std::string* out);

// Structural plausibility of a frame header: known type, stream id where the type needs one,
// fixed lengths where the type has one. Used to detect HTTP/2 without the preface and to resync.
bool IsPlausibleFrameHeader(const FrameHeader& h);

// True when the captured bytes begin with the client preface (or a prefix of it of >= 4 bytes).
bool LooksLikeHttp2Preface(std::string_view data);
// True when the captured bytes parse as a sequence of plausible frames (at least one header)
// that ends where the call ends. `truncated`: the call had more bytes than `data` holds, so the
// last frame may run past it; otherwise a frame running past the end of a whole call is taken
// as not HTTP/2 (binary protocols read as frames of odd lengths that never line up), unless two
// whole frames came before it.
bool LooksLikeHttp2Frames(std::span<const uint8_t> data, bool truncated = false);

}  // namespace zerotrace::protocols
