#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zerotrace::protocols {

enum class Protocol : uint8_t { kUnknown = 0, kHttp1, kHttp2, kGrpc };
enum class Role : uint8_t { kUnknown = 0, kServer, kClient };
// Seen from the traced process: kIngress = bytes it read, kEgress = bytes it wrote.
enum class Direction : uint8_t { kIngress = 0, kEgress = 1 };

std::string_view ProtocolName(Protocol p);
std::string_view RoleName(Role r);

// Why a request the peers exchanged is not in the RED series (zerotrace_requests_lost_total's
// `reason`): recorded + lost = what the client completed, per protocol and side.
enum class LossReason : uint8_t {
  kUnparsable = 0,     // bytes that are not the protocol (malformed, or a parser bound hit)
  kCaptureGap,         // bytes not captured or not seen (ring full, capture cut, joined mid-way)
  kHeadersUnreadable,  // HTTP/2 header block lost or its HPACK state desynchronised
  kStreamLimit,        // more concurrent HTTP/2 streams than the parser tracks
  kQueueLimit,         // more pipelined HTTP/1 requests than the parser queues
  kConnectionClosed,   // the connection closed (or its process exited) mid-request
  kCount,
};
std::string_view LossReasonName(LossReason r);

// One read or write observed on a socket. `captured` may be shorter than `size` because the kernel
// side copies only a prefix of each buffer; the parsers skip the missing bytes by declared lengths.
struct DataEvent {
  Direction direction = Direction::kIngress;
  uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC, when the syscall happened
  std::span<const uint8_t> captured;
  uint64_t size = 0;  // true byte count of the read/write (>= captured.size())
};

// One request/response exchange. Only what metrics and tracing need is kept: never bodies, never
// Authorization/Cookie/Set-Cookie, never the query string.
struct RequestRecord {
  Protocol protocol = Protocol::kUnknown;
  Role role = Role::kUnknown;
  bool parsed_ok = false;  // false: something was lost or malformed; fields may be partial
  LossReason lost_reason = LossReason::kUnparsable;  // why, when !parsed_ok
  bool reset = false;   // HTTP/2 stream reset (RST_STREAM) before the response completed
  std::string method;   // "GET", "POST"; "POST" for gRPC
  std::string path;     // without query string
  std::string route;    // templated path (bounded cardinality), see RouteTemplater
  std::string version;  // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
  std::string host;     // Host / :authority
  std::string traceparent;
  std::string tracestate;
  std::string rpc_service;  // gRPC only: "pkg.Service"
  std::string rpc_method;   // gRPC only: "Method"
  int status_code = 0;      // HTTP status; 0 when unknown
  int grpc_status = -1;     // -1 when unknown
  uint32_t stream_id = 0;   // HTTP/2 only
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint64_t request_bytes = 0;   // wire bytes of the request (headers + body)
  uint64_t response_bytes = 0;  // wire bytes of the response (interim 1xx included)

  // Keeps string capacity so a reused record does not allocate in steady state.
  void Clear();
};

// Receives completed records. The record is only valid during the call (the parser reuses it).
// A parser either emits a record for each request it saw (parsed_ok false with a lost_reason
// when something went wrong) or, where no record can be made (a stream over the bound, a
// response that pairs with no request, requests open at close), reports it lost.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnRecord(const RequestRecord& record) = 0;
  virtual void OnLost(Protocol protocol, LossReason reason, uint64_t requests) {
    (void)protocol;
    (void)reason;
    (void)requests;
  }
};

// Copies every record and sums the losses; for tests and simple callers.
class VectorSink : public RecordSink {
 public:
  void OnRecord(const RequestRecord& record) override { records.push_back(record); }
  void OnLost(Protocol protocol, LossReason reason, uint64_t requests) override {
    (void)protocol;
    lost[static_cast<size_t>(reason)] += requests;
    lost_total += requests;
  }
  std::vector<RequestRecord> records;
  uint64_t lost[static_cast<size_t>(LossReason::kCount)] = {};
  uint64_t lost_total = 0;
};

// Plain counters; one set per parser object. Add() merges them for export.
struct ParserCounters {
  uint64_t http1_requests = 0;
  uint64_t http1_unparsed = 0;
  uint64_t http2_requests = 0;  // gRPC included
  uint64_t http2_unparsed = 0;
  uint64_t grpc_requests = 0;
  uint64_t grpc_unparsed = 0;
  uint64_t unknown_protocol_connections = 0;
  uint64_t bytes_parsed = 0;     // true bytes handed to a protocol parser
  uint64_t bytes_skipped = 0;    // bytes not captured (true size - captured) that were skipped
  uint64_t dropped_pending = 0;  // requests dropped because a bounded queue/map was full
  uint64_t sync_lost = 0;        // times a parser lost message/frame boundaries (gap or bad input)

  void Add(const ParserCounters& o);
  // Field-wise this - o; for reporting deltas.
  ParserCounters Minus(const ParserCounters& o) const;
};

}  // namespace zerotrace::protocols
