#pragma once

#include <cstdint>
#include <span>

#include "protocols/common/request_record.h"

namespace zerotrace::protocols {

struct Inference {
  Protocol protocol = Protocol::kUnknown;  // kHttp1 or kHttp2 when recognised
  // Whether these bytes were sent by the client (request side). Meaningful only when
  // `direction_known`: HTTP/2 frames without the preface do not say who sent them.
  bool from_client = false;
  bool direction_known = false;
};

// Looks at the captured prefix of one read/write of `size` bytes (0: all captured): HTTP/1
// request or status line, the HTTP/2 client preface, or a run of plausible HTTP/2 frames that
// fills the call.
Inference InferProtocol(std::span<const uint8_t> captured, uint64_t size = 0);

}  // namespace zerotrace::protocols
