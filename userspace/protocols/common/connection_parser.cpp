#include "protocols/common/connection_parser.h"

#include "protocols/common/protocol_inference.h"

namespace zerotrace::protocols {

ConnectionParser::ConnectionParser(const Options& options)
    : options_(options), role_(options.role) {
  // With a known role the direction of requests is known before any byte arrives.
  client_dir_ = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
}

void ConnectionParser::Start(Protocol p, bool event_from_client, Direction dir) {
  if (role_ == Role::kUnknown) {
    // The process is the server when it reads requests (or writes responses).
    const bool process_reads_requests = event_from_client == (dir == Direction::kIngress);
    role_ = process_reads_requests ? Role::kServer : Role::kClient;
    client_dir_ = role_ == Role::kClient ? Direction::kEgress : Direction::kIngress;
  }
  protocol_ = p;
  if (p == Protocol::kHttp1) {
    Http1Parser::Options o;
    o.role = role_;
    o.templater = options_.templater;
    o.max_header_bytes = options_.max_header_bytes;
    parser_.emplace<Http1Parser>(o);
  } else {
    Http2Parser::Options o;
    o.role = role_;
    o.templater = options_.templater;
    parser_.emplace<Http2Parser>(o);
  }
}

void ConnectionParser::OnData(const DataEvent& event, RecordSink& sink) {
  if (unknown_) return;
  if (protocol_ == Protocol::kUnknown) {
    if (event.captured.empty()) return;
    const Inference inf = InferProtocol(event.captured, event.size);
    if (inf.protocol == Protocol::kUnknown) {
      if (++inference_events_ >= options_.max_inference_events) {
        unknown_ = true;
        ++own_.unknown_protocol_connections;
      }
      return;
    }
    // HTTP/2 frames without the preface: with an unknown role assume the process is the server
    // for what it reads (the usual case for long-lived inbound gRPC connections).
    const bool from_client = inf.direction_known
                                 ? inf.from_client
                                 : (role_ == Role::kUnknown ? event.direction == Direction::kIngress
                                                            : FromClient(event.direction));
    Start(inf.protocol, from_client, event.direction);
  }
  const bool from_client = FromClient(event.direction);
  if (auto* h1 = std::get_if<Http1Parser>(&parser_)) {
    h1->Feed(from_client, event.timestamp_ns, event.captured, event.size, sink);
    if (h1->upgraded()) {
      own_.Add(h1->counters());
      if (auto upgraded = h1->TakeH2cUpgrade()) {
        // h2c: HTTP/2 from here on, and the upgrading request is stream 1.
        Start(Protocol::kHttp2, from_client, event.direction);  // h1 is gone from here
        if (auto* h2 = std::get_if<Http2Parser>(&parser_)) h2->SeedUpgradedRequest(*upgraded);
        return;
      }
      // 101 to anything else (a WebSocket): infer again from the next bytes; it ends up ignored
      // as unknown.
      parser_.emplace<std::monostate>();
      protocol_ = Protocol::kUnknown;
      inference_events_ = 0;
    }
  } else if (auto* h2 = std::get_if<Http2Parser>(&parser_)) {
    h2->Feed(from_client, event.timestamp_ns, event.captured, event.size, sink);
  }
}

bool ConnectionParser::AwaitsHttp1Request() const {
  if (protocol_ == Protocol::kUnknown) return !unknown_;
  const auto* h1 = std::get_if<Http1Parser>(&parser_);
  return h1 != nullptr && h1->AwaitsRequest();
}

uint64_t ConnectionParser::SkippableBytes(Direction d) const {
  const auto* h1 = std::get_if<Http1Parser>(&parser_);
  return h1 != nullptr ? h1->BodyRemaining(FromClient(d)) : 0;
}

void ConnectionParser::OnClose(uint64_t ts_ns, RecordSink& sink) {
  if (auto* h1 = std::get_if<Http1Parser>(&parser_)) {
    h1->Close(ts_ns, sink);
  } else if (auto* h2 = std::get_if<Http2Parser>(&parser_)) {
    h2->Close(ts_ns, sink);
  }
}

ParserCounters ConnectionParser::counters() const {
  ParserCounters c = own_;
  if (const auto* h1 = std::get_if<Http1Parser>(&parser_)) c.Add(h1->counters());
  if (const auto* h2 = std::get_if<Http2Parser>(&parser_)) c.Add(h2->counters());
  return c;
}

ParserCounters ConnectionParser::TakeCounters() {
  const ParserCounters now = counters();
  const ParserCounters delta = now.Minus(reported_);
  reported_ = now;
  return delta;
}

}  // namespace zerotrace::protocols
