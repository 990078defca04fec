#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>

#include "protocols/common/request_record.h"
#include "protocols/common/route_templater.h"
#include "protocols/http1/http1_parser.h"
#include "protocols/http2/http2_parser.h"

namespace zerotrace::protocols {

// One per traced connection (tgid, fd). Infers the protocol from the first bytes, learns which
// direction carries requests, and feeds a protocol parser that emits RequestRecords.
//
// Timing comes from event timestamps: a record starts at the event carrying the first request
// byte and ends at the event carrying the last response byte. For a server that is first byte
// read -> last byte written; for a client first byte written -> last byte read.
class ConnectionParser {
 public:
  struct Options {
    // kServer: the process accepted the socket; kClient: it connected. kUnknown: inferred from
    // which side sends the first request.
    Role role = Role::kUnknown;
    RouteTemplater* templater = nullptr;  // per-service route bound; not owned; may be null
    size_t max_header_bytes = 16 * 1024;
    // Events with data seen without recognising a protocol before giving up on the connection.
    int max_inference_events = 8;
  };

  explicit ConnectionParser(const Options& options);
  ConnectionParser() : ConnectionParser(Options{}) {}

  void OnData(const DataEvent& event, RecordSink& sink);
  void OnClose(uint64_t ts_ns, RecordSink& sink);

  Protocol protocol() const { return protocol_; }  // kHttp2 also for gRPC connections
  Role role() const { return role_; }
  bool ignored() const { return unknown_; }  // protocol not recognised; data is dropped
  // HTTP/1 (or not known yet): the next client bytes begin a request rather than continue a
  // body or a split header block.
  bool AwaitsHttp1Request() const;
  // Bytes coming in direction `d` that the parser will skip without reading (an HTTP/1 body of
  // declared length): a capture hint for the kernel. 0 when unknown.
  uint64_t SkippableBytes(Direction d) const;

  ParserCounters counters() const;
  // Counters accumulated since the previous call (for periodic export).
  ParserCounters TakeCounters();

 private:
  void Start(Protocol p, bool event_from_client, Direction dir);
  bool FromClient(Direction d) const { return d == client_dir_; }

  Options options_;
  Role role_;
  Protocol protocol_ = Protocol::kUnknown;
  Direction client_dir_ = Direction::kIngress;  // direction of client -> server bytes
  bool unknown_ = false;
  int inference_events_ = 0;
  std::variant<std::monostate, Http1Parser, Http2Parser> parser_;
  ParserCounters own_;
  ParserCounters reported_;
};

}  // namespace zerotrace::protocols
