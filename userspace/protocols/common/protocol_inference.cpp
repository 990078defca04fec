#include "protocols/common/protocol_inference.h"

#include "protocols/common/text_util.h"
#include "protocols/http1/http1_parser.h"
#include "protocols/http2/frame.h"

namespace zerotrace::protocols {

Inference InferProtocol(std::span<const uint8_t> captured, uint64_t size) {
  const std::string_view s = AsStringView(captured);
  Inference r;
  // The preface starts with "PRI " which no HTTP/1 method matches, so order does not matter.
  if (LooksLikeHttp2Preface(s)) {
    r.protocol = Protocol::kHttp2;
    r.from_client = true;
    r.direction_known = true;
  } else if (LooksLikeHttp1Request(s)) {
    r.protocol = Protocol::kHttp1;
    r.from_client = true;
    r.direction_known = true;
  } else if (LooksLikeHttp1Response(s)) {
    r.protocol = Protocol::kHttp1;
    r.from_client = false;
    r.direction_known = true;
  } else if (LooksLikeHttp2Frames(captured, size > captured.size())) {
    r.protocol = Protocol::kHttp2;
  }
  return r;
}

}  // namespace zerotrace::protocols
