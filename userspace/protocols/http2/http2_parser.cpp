#include "protocols/http2/http2_parser.h"

#include <algorithm>

#include "protocols/common/record_labels.h"
#include "protocols/common/text_util.h"
#include "protocols/grpc/grpc.h"

namespace zerotrace::protocols {
namespace {

uint32_t ReadU32(std::span<const uint8_t> p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

int ParseStatus(std::string_view v) {
  uint64_t n = 0;
  if (!ParseDecimal(v, &n) || n > 999) return -1;
  return static_cast<int>(n);
}

enum class Phase : uint8_t { kRequest, kResponse, kTrailers, kDiscard };

// Copies only the fields the record needs; credentials and cookies are never looked at.
class StreamHeaders : public HeaderHandler {
 public:
  StreamHeaders(Phase phase, RequestRecord* r) : phase_(phase), r_(r) {}

  void OnHeader(std::string_view name, std::string_view value) override {
    if (phase_ == Phase::kDiscard) return;
    if (phase_ == Phase::kRequest) {
      if (name == ":method") {
        r_->method.assign(value);
      } else if (name == ":path") {
        r_->path.assign(StripQuery(value));
      } else if (name == ":authority" || (name == "host" && r_->host.empty())) {
        r_->host.assign(value);
      } else if (name == "traceparent") {
        r_->traceparent.assign(value);
      } else if (name == "tracestate") {
        r_->tracestate.assign(value);
      } else if (name == "content-type") {
        grpc_ |= IsGrpcContentType(value);
      }
      return;
    }
    if (name == ":status" && phase_ == Phase::kResponse) {
      status_ = ParseStatus(value);
    } else if (name == "grpc-status") {
      grpc_status_ = ParseStatus(value);
    } else if (name == "content-type") {
      grpc_ |= IsGrpcContentType(value);
    }
  }

  bool grpc() const { return grpc_; }
  int status() const { return status_; }
  int grpc_status() const { return grpc_status_; }

 private:
  Phase phase_;
  RequestRecord* r_;
  bool grpc_ = false;
  int status_ = -1;
  int grpc_status_ = -1;
};

}  // namespace

Http2Parser::Http2Parser(const Options& options) : options_(options) {
  dir_[0].from_client = true;
  dir_[1].from_client = false;
  dir_[1].preface_done = true;  // only the client sends the preface
}

void Http2Parser::Feed(bool from_client, uint64_t ts_ns, std::span<const uint8_t> captured,
                       uint64_t size, RecordSink& sink) {
  if (size < captured.size()) size = captured.size();
  counters_.bytes_parsed += size;
  counters_.bytes_skipped += size - captured.size();
  FeedDir(dir_[from_client ? 0 : 1], ts_ns, captured, size - captured.size(), sink);
}

void Http2Parser::LoseFraming(Dir& d) {
  ++counters_.sync_lost;
  d.state = Dir::State::kLost;
  d.hdr_have = 0;
  d.payload.clear();
  d.block.clear();
  if (d.in_block) {
    Stream* s = FindOrCreate(d.block_stream, false);
    if (s != nullptr) s->Fail(LossReason::kCaptureGap);
  }
  d.in_block = false;
  // Header frames may have gone by unseen: the dynamic table can no longer be trusted.
  d.hpack.MarkDesynced();
}

void Http2Parser::FeedDir(Dir& d, uint64_t ts, std::span<const uint8_t> data, uint64_t gap,
                          RecordSink& sink) {
  size_t pos = 0;
  if (!d.preface_done) {
    while (pos < data.size() && d.preface_matched < kHttp2Preface.size()) {
      if (static_cast<char>(data[pos]) != kHttp2Preface[d.preface_matched]) break;
      ++pos;
      ++d.preface_matched;
    }
    // No preface, or only part of it before bytes went uncaptured: what follows is frames we
    // joined mid-way. Size updates we missed may have raised the table size, so accept any
    // (bounded) update from now on. A partial preface loses framing until a frame header turns
    // up at a read/write boundary (without the flag, the next bytes would be taken for the rest
    // of the preface, fail, and the direction would stay lost for good).
    const bool joined = d.preface_matched < kHttp2Preface.size() && (pos < data.size() || gap > 0);
    if (d.preface_matched == kHttp2Preface.size() || joined) d.preface_done = true;
    if (joined) {
      d.hpack.SetAllowedMaxTableSize(HpackDecoder::kHardMaxTableSize);
      Other(d).hpack.SetAllowedMaxTableSize(HpackDecoder::kHardMaxTableSize);
      if (d.preface_matched > 0) {
        LoseFraming(d);
        return;
      }
    }
  }
  if (d.state == Dir::State::kLost) {
    // Frames usually start at a write boundary; try to pick the stream up again there.
    if (pos + kFrameHeaderSize > data.size() ||
        !IsPlausibleFrameHeader(ParseFrameHeader(data.subspan(pos)))) {
      return;
    }
    d.state = Dir::State::kHeader;
    d.hdr_have = 0;
  }

  while (pos < data.size() || gap > 0) {
    if (d.state == Dir::State::kLost) return;
    if (d.state == Dir::State::kHeader) {
      if (pos == data.size()) {
        LoseFraming(d);  // a frame header went uncaptured
        return;
      }
      if (d.hdr_have == 0) d.frame_start_ts = ts;
      const size_t take = std::min(kFrameHeaderSize - d.hdr_have, data.size() - pos);
      std::copy_n(data.begin() + static_cast<ptrdiff_t>(pos), take, d.hdr + d.hdr_have);
      d.hdr_have += take;
      pos += take;
      if (d.hdr_have < kFrameHeaderSize) continue;
      d.hdr_have = 0;
      d.frame = ParseFrameHeader(d.hdr);
      OnFrameHeader(d);
      if (d.state == Dir::State::kLost) return;
      if (d.payload_left == 0) {
        d.state = Dir::State::kHeader;
        OnFrame(d, {}, ts, sink);
      }
      continue;
    }
    // kPayload
    uint64_t take;
    if (pos < data.size()) {
      take = std::min<uint64_t>(d.payload_left, data.size() - pos);
      if (d.buffering) {
        d.payload.append(reinterpret_cast<const char*>(data.data()) + pos, take);
      }
      pos += take;
    } else {
      take = std::min(d.payload_left, gap);
      gap -= take;
      if (d.buffering) d.payload_lost = true;
    }
    d.payload_left -= take;
    if (d.payload_left == 0) {
      d.state = Dir::State::kHeader;
      const auto* p = reinterpret_cast<const uint8_t*>(d.payload.data());
      OnFrame(d, std::span<const uint8_t>(p, d.payload.size()), ts, sink);
      d.payload.clear();
    }
  }
}

void Http2Parser::OnFrameHeader(Dir& d) {
  const FrameHeader& f = d.frame;
  const auto type = static_cast<FrameType>(f.type);
  if (d.in_block && (type != FrameType::kContinuation || f.stream_id != d.block_stream)) {
    // RFC 9113 §6.10: nothing may interleave a header block. Treat as lost framing.
    LoseFraming(d);
    return;
  }
  d.payload_left = f.length;
  d.payload_lost = false;
  d.payload.clear();
  d.buffering = type != FrameType::kData && f.type <= 9 && f.length <= options_.max_frame_buffer;
  if (!d.buffering && f.type <= 9 && type != FrameType::kData) d.payload_lost = true;
  d.state = Dir::State::kPayload;
}

void Http2Parser::SeedUpgradedRequest(const RequestRecord& request) {
  Stream* s = FindOrCreate(1, true);
  if (s == nullptr) return;
  s->record = request;
  s->record.stream_id = 1;
  s->record.status_code = 0;
  s->record.response_bytes = 0;
  s->request_headers = true;
  lowest_client_stream_ = highest_client_stream_ = 1;
}

Http2Parser::Stream* Http2Parser::FindOrCreate(uint32_t id, bool create, RecordSink* sink) {
  auto it = streams_.find(id);
  if (it != streams_.end()) return &it->second;
  if (!create) return nullptr;
  if (streams_.size() >= options_.max_streams) {
    ++counters_.dropped_pending;
    ++counters_.http2_unparsed;
    if (sink != nullptr) sink->OnLost(Protocol::kHttp2, LossReason::kStreamLimit, 1);
    return nullptr;
  }
  Stream& s = streams_[id];
  s.record.stream_id = id;
  return &s;
}

void Http2Parser::OnFrame(Dir& d, std::span<const uint8_t> p, uint64_t ts, RecordSink& sink) {
  const FrameHeader f = d.frame;
  const bool end_stream = (f.flags & frame_flags::kEndStream) != 0;
  switch (static_cast<FrameType>(f.type)) {
    case FrameType::kData: {
      Stream* s = FindOrCreate(f.stream_id, false);
      if (s != nullptr) {
        (d.from_client ? s->record.request_bytes : s->record.response_bytes) +=
            kFrameHeaderSize + f.length;
      }
      if (end_stream) OnEndStream(d.from_client, f.stream_id, ts, sink);
      return;
    }
    case FrameType::kHeaders:
    case FrameType::kPushPromise: {
      const bool push = f.type == static_cast<uint8_t>(FrameType::kPushPromise);
      d.in_block = true;
      d.block_is_push = push;
      d.block_end_stream = !push && end_stream;
      d.block_stream = f.stream_id;
      d.block_start_ts = d.frame_start_ts;
      d.block.clear();
      d.block_broken = d.payload_lost;
      if (!d.payload_lost) {
        size_t begin = 0;
        size_t pad = 0;
        if (f.flags & frame_flags::kPadded) {
          if (p.empty()) {
            d.block_broken = true;
          } else {
            pad = p[0];
            begin = 1;
          }
        }
        if (!push && (f.flags & frame_flags::kPriority)) begin += 5;  // dependency + weight
        if (push) begin += 4;                                         // promised stream id
        if (d.block_broken || begin + pad > p.size()) {
          d.block_broken = true;
        } else {
          d.block.assign(reinterpret_cast<const char*>(p.data()) + begin, p.size() - begin - pad);
        }
      }
      Stream* s = push ? nullptr : FindOrCreate(f.stream_id, d.from_client, &sink);
      if (d.from_client && !push) {
        if (lowest_client_stream_ == 0) lowest_client_stream_ = f.stream_id;
        highest_client_stream_ = std::max(highest_client_stream_, f.stream_id);
      }
      if (s != nullptr) {
        (d.from_client ? s->record.request_bytes : s->record.response_bytes) +=
            kFrameHeaderSize + f.length;
      }
      if (f.flags & frame_flags::kEndHeaders) OnHeaderBlock(d, ts, sink);
      return;
    }
    case FrameType::kContinuation: {
      if (!d.in_block) {
        d.hpack.MarkDesynced();
        return;
      }
      if (d.payload_lost || d.block.size() + p.size() > options_.max_header_block) {
        d.block_broken = true;
      } else {
        d.block.append(reinterpret_cast<const char*>(p.data()), p.size());
      }
      Stream* s = FindOrCreate(d.block_stream, false);
      if (s != nullptr) {
        (d.from_client ? s->record.request_bytes : s->record.response_bytes) +=
            kFrameHeaderSize + f.length;
      }
      if (f.flags & frame_flags::kEndHeaders) OnHeaderBlock(d, ts, sink);
      return;
    }
    case FrameType::kRstStream: {
      auto it = streams_.find(f.stream_id);
      if (it == streams_.end()) return;
      it->second.record.reset = true;
      Emit(f.stream_id, it->second, ts, sink);
      return;
    }
    case FrameType::kSettings: {
      if ((f.flags & frame_flags::kAck) || d.payload_lost) return;
      for (size_t i = 0; i + 6 <= p.size(); i += 6) {
        const uint16_t id = static_cast<uint16_t>((p[i] << 8) | p[i + 1]);
        if (id == kSettingsHeaderTableSize) {
          // The sender's decoder limit binds the peer's encoder, i.e. our other direction.
          Other(d).hpack.SetAllowedMaxTableSize(ReadU32(p.subspan(i + 2)));
        }
      }
      return;
    }
    case FrameType::kGoaway: {
      if (d.from_client || d.payload_lost || p.size() < 8) return;
      // Client streams above last_stream_id were never processed by the server: drop them.
      const uint32_t last = ReadU32(p) & 0x7fffffffu;
      for (auto it = streams_.begin(); it != streams_.end();) {
        if (it->first > last && (it->first & 1) == 1) {
          it = streams_.erase(it);
        } else {
          ++it;
        }
      }
      return;
    }
    default:
      return;  // PRIORITY, PING, WINDOW_UPDATE, unknown types: nothing to learn
  }
}

void Http2Parser::OnHeaderBlock(Dir& d, uint64_t ts, RecordSink& sink) {
  d.in_block = false;
  const uint32_t id = d.block_stream;
  // The client's HEADERS frame already made its stream (or counted it dropped). A server block
  // makes one only for a stream we never saw the client open (opened before we joined, or its
  // HEADERS lost): a stream in between that is gone was emitted or reset already, and the
  // server's in-flight headers or trailers after a client RST_STREAM (a cancelled gRPC call)
  // are not a second exchange.
  const bool create = !d.from_client && (id > highest_client_stream_ || id < lowest_client_stream_);
  Stream* s = d.block_is_push ? nullptr : FindOrCreate(id, create, &sink);
  Phase phase = Phase::kDiscard;
  if (s != nullptr) {
    if (d.from_client) {
      phase = s->request_headers ? Phase::kDiscard : Phase::kRequest;  // request trailers
      if (phase == Phase::kRequest) {
        s->request_headers = true;
        s->record.start_ns = d.block_start_ts;
      }
    } else {
      phase = s->response_headers ? Phase::kTrailers : Phase::kResponse;
    }
  }
  StreamHeaders handler(phase, s != nullptr ? &s->record : nullptr);
  HpackStatus st = HpackStatus::kDesynced;
  if (d.block_broken) {
    d.hpack.MarkDesynced();
  } else {
    const auto* b = reinterpret_cast<const uint8_t*>(d.block.data());
    st = d.hpack.Decode(std::span<const uint8_t>(b, d.block.size()), handler);
  }
  d.block.clear();
  if (s == nullptr) return;
  if (st != HpackStatus::kOk) {
    // An index past the table we know means inserts went by unseen (joined mid-connection, or
    // after a gap): the state is unknown, not the bytes malformed.
    const bool state_unknown =
        st == HpackStatus::kDesynced || st == HpackStatus::kBadIndex || d.block_broken;
    s->Fail(state_unknown ? LossReason::kHeadersUnreadable : LossReason::kUnparsable);
  }
  s->grpc |= handler.grpc();
  if (phase == Phase::kResponse) {
    const int status = handler.status();
    if (status >= 100 && status < 200) {
      // Interim response; the final headers are still to come.
    } else {
      s->response_headers = true;
      if (status > 0) s->record.status_code = status;
    }
  }
  if (handler.grpc_status() >= 0) s->record.grpc_status = handler.grpc_status();
  if (d.block_end_stream) OnEndStream(d.from_client, id, ts, sink);
}

void Http2Parser::OnEndStream(bool from_client, uint32_t id, uint64_t ts, RecordSink& sink) {
  // The exchange is over when the server side closes; a client END_STREAM only ends the request.
  if (from_client) return;
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Emit(id, it->second, ts, sink);
}

void Http2Parser::Emit(uint32_t id, Stream& s, uint64_t ts, RecordSink& sink) {
  RequestRecord& r = s.record;
  r.protocol = s.grpc ? Protocol::kGrpc : Protocol::kHttp2;
  r.role = options_.role;
  r.version = "HTTP/2";
  r.end_ns = ts;
  r.parsed_ok = s.ok && s.request_headers && !r.method.empty() && !r.path.empty();
  // A stream whose request headers went by unseen (opened before we joined, or lost in a gap).
  r.lost_reason = !s.ok                ? s.why
                  : !s.request_headers ? LossReason::kCaptureGap
                                       : LossReason::kUnparsable;
  if (!s.request_headers) r.start_ns = ts;  // joined mid-stream: no meaningful start
  if (s.grpc) {
    std::string_view service, method;
    if (SplitGrpcPath(r.path, &service, &method)) {
      r.rpc_service.assign(service);
      r.rpc_method.assign(method);
    }
  }
  FinalizeLabels(r, options_.templater);
  if (r.parsed_ok) {
    ++counters_.http2_requests;
    if (s.grpc) ++counters_.grpc_requests;
  } else {
    ++counters_.http2_unparsed;
    if (s.grpc) ++counters_.grpc_unparsed;
  }
  sink.OnRecord(r);
  streams_.erase(id);
}

void Http2Parser::Close(uint64_t ts_ns, RecordSink& sink) {
  (void)ts_ns;
  for (auto& [id, s] : streams_) {
    ++counters_.http2_unparsed;
    if (s.grpc) ++counters_.grpc_unparsed;
    sink.OnLost(s.grpc ? Protocol::kGrpc : Protocol::kHttp2, LossReason::kConnectionClosed, 1);
  }
  streams_.clear();
}

}  // namespace zerotrace::protocols
