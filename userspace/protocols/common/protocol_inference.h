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

// Looks at the captured prefix of one read/write: HTTP/1 request or status line, the HTTP/2
// client preface, or a run of plausible HTTP/2 frames.
Inference InferProtocol(std::span<const uint8_t> captured);

}  // namespace zerotrace::protocols
