#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocols/common/request_record.h"
#include "protocols/common/route_templater.h"

namespace zerotrace::protocols {

// True when `data` starts like an HTTP/1.x request line ("GET /x HTTP/1.1") or a status line
// ("HTTP/1.1 200"). Only the captured prefix is examined; used for inference and resync.
bool LooksLikeHttp1Request(std::string_view data);
bool LooksLikeHttp1Response(std::string_view data);

// Parses both directions of one HTTP/1.x connection and pairs requests with responses in order
// (keep-alive and pipelining). Bodies are never buffered: they are skipped by Content-Length or
// chunk sizes, counting the true (possibly uncaptured) byte counts. Header blocks are buffered
// only while split across reads, up to `max_header_bytes`.
class Http1Parser {
 public:
  struct Options {
    Role role = Role::kUnknown;           // copied into the records
    RouteTemplater* templater = nullptr;  // null: TemplatePath() without a cardinality bound
    size_t max_header_bytes = 16 * 1024;
    size_t max_pending = 32;  // requests awaiting a response (pipelining bound)
  };

  explicit Http1Parser(const Options& options);
  Http1Parser() : Http1Parser(Options{}) {}

  // `from_client`: bytes flowing client -> server (requests). `size` >= captured.size().
  void Feed(bool from_client, uint64_t ts_ns, std::span<const uint8_t> captured, uint64_t size,
            RecordSink& sink);
  // Connection closed: completes a response delimited by close; unanswered requests are counted.
  void Close(uint64_t ts_ns, RecordSink& sink);

  const ParserCounters& counters() const { return counters_; }
  ParserCounters* mutable_counters() { return &counters_; }
  // Nothing more will be parsed (after 101 Switching Protocols).
  bool upgraded() const { return upgraded_; }
  // After a 101 to an "Upgrade: h2c" request: that request, whose response comes over HTTP/2 on
  // stream 1 (RFC 7540 3.2); the caller hands it to the HTTP/2 parser. Empty otherwise.
  std::optional<RequestRecord> TakeH2cUpgrade() { return std::exchange(h2c_upgrade_, {}); }
  // Between request messages: the next client byte starts a new request (not a body's).
  bool AwaitsRequest() const { return req_.state == State::kIdle && req_.buf.empty(); }
  // Body bytes (of a declared length, or of the current chunk) still to come from that side:
  // they are skipped unread, so the kernel need not copy them.
  uint64_t BodyRemaining(bool from_client) const {
    const Side& s = from_client ? req_ : resp_;
    if (upgraded_ || (s.state != State::kBody && s.state != State::kChunkData)) return 0;
    return s.remaining;
  }

 private:
  enum class State : uint8_t {
    kIdle,        // between messages
    kHeaders,     // accumulating start line + headers
    kBody,        // Content-Length body
    kChunkSize,   // chunk-size line (with optional extensions)
    kChunkData,   // chunk payload
    kChunkCrlf,   // CRLF after chunk payload
    kTrailers,    // trailer section after the last chunk
    kUntilClose,  // response body delimited by connection close
    kDesync,      // lost track of message boundaries; waiting for a start line at a read boundary
  };

  struct Side {
    State state = State::kIdle;
    std::string buf;  // header block or chunk line split across reads
    uint64_t remaining = 0;
    uint64_t msg_bytes = 0;
    uint64_t first_ts = 0;
    uint64_t last_ts = 0;
    uint64_t msg_seq = 0;  // request side: sequence number of the message being read
    bool bound = false;    // response side: current response is paired with pending_front
    bool interim = false;  // response side: the message just parsed was a 1xx interim response
  };

  struct Pending {
    RequestRecord record;
    uint64_t seq = 0;
    bool is_head = false;
    bool complete = false;  // request message fully read
    bool ok = true;
    LossReason why = LossReason::kUnparsable;  // when !ok
    uint32_t dropped_after = 0;  // requests right after this one not queued (queue full)
    bool upgrade_h2c = false;    // "Upgrade: h2c": a 101 continues this exchange in HTTP/2
  };

  void FeedSide(bool from_client, uint64_t ts, std::span<const uint8_t> captured, uint64_t size,
                RecordSink& sink);
  // Returns false when the header block is malformed.
  bool OnRequestHeaders(Side& s, std::string_view block);
  bool OnResponseHeaders(Side& s, std::string_view block, uint64_t ts, RecordSink& sink);
  void OnMessageComplete(bool from_client, Side& s, uint64_t ts, RecordSink& sink);
  void LoseSync(bool from_client, Side& s, uint64_t ts, LossReason reason, RecordSink& sink);
  void EmitFront(uint64_t end_ts, bool ok, RecordSink& sink);
  // A request that leaves no record (see RecordSink::OnLost).
  void CountLost(LossReason reason, RecordSink& sink);

  Pending& PendingAt(size_t i) { return pending_[(pending_head_ + i) % pending_.size()]; }
  Pending* PushPending();
  void PopPending();

  Options options_;
  Side req_;
  Side resp_;
  // Fixed ring reused across requests so strings keep their capacity.
  std::vector<Pending> pending_;
  size_t pending_head_ = 0;
  size_t pending_count_ = 0;
  // Responses still to come for requests dropped from a full queue: each is consumed unpaired,
  // so the responses after them pair with the right requests again.
  uint64_t skip_responses_ = 0;
  std::optional<RequestRecord> h2c_upgrade_;
  uint64_t next_seq_ = 1;
  int resp_status_ = 0;
  bool upgraded_ = false;
  ParserCounters counters_;
};

}  // namespace zerotrace::protocols
