#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "protocols/common/request_record.h"
#include "protocols/common/route_templater.h"
#include "protocols/http2/frame.h"
#include "protocols/http2/hpack_decoder.h"

namespace zerotrace::protocols {

// Parses both directions of one HTTP/2 connection (h2 or h2c, plaintext) into one RequestRecord
// per stream; gRPC is recognised from content-type. DATA payloads are never buffered, only
// counted (true sizes), so uncaptured bytes inside a DATA frame are harmless. Control and header
// frames are buffered up to `max_frame_buffer`; header blocks up to `max_header_block`.
class Http2Parser {
 public:
  struct Options {
    Role role = Role::kUnknown;
    RouteTemplater* templater = nullptr;
    // Concurrently tracked streams: 1000 in flight on one connection is what load generators
    // and gRPC channels reach (SETTINGS_MAX_CONCURRENT_STREAMS is unlimited by default); more
    // are counted lost (reason stream_limit). About 300 bytes a stream.
    size_t max_streams = 2048;
    size_t max_frame_buffer = 64 * 1024;  // larger non-DATA frames are skipped (and lost)
    size_t max_header_block = 64 * 1024;  // HEADERS + CONTINUATION fragments
  };

  explicit Http2Parser(const Options& options);
  Http2Parser() : Http2Parser(Options{}) {}

  // `from_client`: bytes flowing client -> server.
  // Stream 1 of a connection upgraded from HTTP/1.1 (h2c): its request was the HTTP/1 one.
  void SeedUpgradedRequest(const RequestRecord& request);
  void Feed(bool from_client, uint64_t ts_ns, std::span<const uint8_t> captured, uint64_t size,
            RecordSink& sink);
  // Open streams are counted as unparsed and dropped.
  void Close(uint64_t ts_ns, RecordSink& sink);

  const ParserCounters& counters() const { return counters_; }
  ParserCounters* mutable_counters() { return &counters_; }
  size_t open_streams() const { return streams_.size(); }
  const HpackDecoder& decoder(bool from_client) const { return dir_[from_client ? 0 : 1].hpack; }

 private:
  struct Stream {
    RequestRecord record;
    bool ok = true;
    LossReason why = LossReason::kUnparsable;  // the first failure, when !ok
    bool request_headers = false;
    bool response_headers = false;  // final (non-1xx) response headers seen
    bool grpc = false;
    void Fail(LossReason reason) {
      if (ok) why = reason;
      ok = false;
    }
  };

  struct Dir {
    bool from_client = false;
    size_t preface_matched = 0;
    bool preface_done = false;
    enum class State : uint8_t { kHeader, kPayload, kLost } state = State::kHeader;
    uint8_t hdr[kFrameHeaderSize] = {};
    size_t hdr_have = 0;
    FrameHeader frame;
    uint64_t payload_left = 0;
    bool buffering = false;  // payload copied into `payload` (not DATA, not oversized)
    bool payload_lost = false;
    std::string payload;
    uint64_t frame_start_ts = 0;
    // Header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION.
    bool in_block = false;
    bool block_is_push = false;
    bool block_end_stream = false;
    bool block_broken = false;
    uint32_t block_stream = 0;
    uint64_t block_start_ts = 0;
    std::string block;
    HpackDecoder hpack;
  };

  void FeedDir(Dir& d, uint64_t ts, std::span<const uint8_t> captured, uint64_t gap,
               RecordSink& sink);
  void OnFrameHeader(Dir& d);
  void OnFrame(Dir& d, std::span<const uint8_t> payload, uint64_t ts, RecordSink& sink);
  void OnHeaderBlock(Dir& d, uint64_t ts, RecordSink& sink);
  void LoseFraming(Dir& d);
  // Over the stream bound a new stream is reported lost to `sink` (when given).
  Stream* FindOrCreate(uint32_t id, bool create, RecordSink* sink = nullptr);
  void OnEndStream(bool from_client, uint32_t id, uint64_t ts, RecordSink& sink);
  void Emit(uint32_t id, Stream& s, uint64_t ts, RecordSink& sink);
  Dir& Other(const Dir& d) { return &d == &dir_[0] ? dir_[1] : dir_[0]; }

  Options options_;
  Dir dir_[2];  // [0] client -> server, [1] server -> client
  std::unordered_map<uint32_t, Stream> streams_;
  uint32_t lowest_client_stream_ = 0;   // first stream id the client opened with HEADERS
  uint32_t highest_client_stream_ = 0;  // highest stream id the client opened with HEADERS
  ParserCounters counters_;
};

}  // namespace zerotrace::protocols
