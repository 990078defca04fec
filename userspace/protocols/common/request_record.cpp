#include "protocols/common/request_record.h"

namespace zerotrace::protocols {

std::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kHttp1:
      return "http1";
    case Protocol::kHttp2:
      return "http2";
    case Protocol::kGrpc:
      return "grpc";
    case Protocol::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kServer:
      return "server";
    case Role::kClient:
      return "client";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view LossReasonName(LossReason r) {
  switch (r) {
    case LossReason::kUnparsable:
      return "unparsable";
    case LossReason::kCaptureGap:
      return "capture_gap";
    case LossReason::kHeadersUnreadable:
      return "headers_unreadable";
    case LossReason::kStreamLimit:
      return "stream_limit";
    case LossReason::kQueueLimit:
      return "queue_limit";
    case LossReason::kConnectionClosed:
      return "connection_closed";
    case LossReason::kCount:
      break;
  }
  return "unparsable";
}

void RequestRecord::Clear() {
  protocol = Protocol::kUnknown;
  role = Role::kUnknown;
  parsed_ok = false;
  lost_reason = LossReason::kUnparsable;
  reset = false;
  method.clear();
  path.clear();
  route.clear();
  version.clear();
  host.clear();
  traceparent.clear();
  tracestate.clear();
  rpc_service.clear();
  rpc_method.clear();
  status_code = 0;
  grpc_status = -1;
  stream_id = 0;
  start_ns = 0;
  end_ns = 0;
  request_bytes = 0;
  response_bytes = 0;
}

void ParserCounters::Add(const ParserCounters& o) {
  http1_requests += o.http1_requests;
  http1_unparsed += o.http1_unparsed;
  http2_requests += o.http2_requests;
  http2_unparsed += o.http2_unparsed;
  grpc_requests += o.grpc_requests;
  grpc_unparsed += o.grpc_unparsed;
  unknown_protocol_connections += o.unknown_protocol_connections;
  bytes_parsed += o.bytes_parsed;
  bytes_skipped += o.bytes_skipped;
  dropped_pending += o.dropped_pending;
  sync_lost += o.sync_lost;
}

ParserCounters ParserCounters::Minus(const ParserCounters& o) const {
  ParserCounters d;
  d.http1_requests = http1_requests - o.http1_requests;
  d.http1_unparsed = http1_unparsed - o.http1_unparsed;
  d.http2_requests = http2_requests - o.http2_requests;
  d.http2_unparsed = http2_unparsed - o.http2_unparsed;
  d.grpc_requests = grpc_requests - o.grpc_requests;
  d.grpc_unparsed = grpc_unparsed - o.grpc_unparsed;
  d.unknown_protocol_connections = unknown_protocol_connections - o.unknown_protocol_connections;
  d.bytes_parsed = bytes_parsed - o.bytes_parsed;
  d.bytes_skipped = bytes_skipped - o.bytes_skipped;
  d.dropped_pending = dropped_pending - o.dropped_pending;
  d.sync_lost = sync_lost - o.sync_lost;
  return d;
}

}  // namespace zerotrace::protocols
