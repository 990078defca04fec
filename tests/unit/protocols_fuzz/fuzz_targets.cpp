#include "fuzz_targets.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "protocols/common/connection_parser.h"
#include "protocols/grpc/grpc.h"
#include "protocols/http1/http1_parser.h"
#include "protocols/http2/hpack_decoder.h"
#include "protocols/http2/http2_parser.h"
#include "protocols/http2/huffman.h"

namespace zerotrace::protocols::fuzz {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Checks what must hold for every record whatever the input.
class CheckingSink : public RecordSink {
 public:
  void OnRecord(const RequestRecord& r) override {
    Check(r.start_ns <= r.end_ns, "start_ns <= end_ns");
    Check(r.path.find('?') == std::string::npos, "no query string in path");
    // A one-character id segment ("/0/") becomes "{id}": at most four times the path.
    Check(r.route.size() <= 4 * r.path.size() + 64 || r.route == "other", "route bounded");
    ++records;
    if (std::getenv("ZT_FUZZ_VERBOSE") != nullptr)
      std::fprintf(stderr, "record %s\n", r.path.c_str());
  }
  size_t records = 0;
};

// Splits the input into data events. Each event starts with a control byte:
//   bit 0: direction, bit 1: the true size exceeds the captured bytes, bits 2-7: length.
template <typename Fn>
void ForEachEvent(const uint8_t* data, size_t size, Fn&& fn) {
  size_t pos = 0;
  uint64_t ts = 1;
  while (pos < size) {
    const uint8_t ctl = data[pos++];
    size_t len = static_cast<size_t>(ctl >> 2) * 4 + 1;
    if (len > size - pos) len = size - pos;
    uint64_t true_size = len;
    if (ctl & 2) true_size += static_cast<uint64_t>(ctl) * 37;
    fn((ctl & 1) != 0, ts, std::span<const uint8_t>(data + pos, len), true_size);
    pos += len;
    ts += 1 + (ctl & 7);
  }
}

// Summary of what a record says, for comparing two runs.
class SummarySink : public RecordSink {
 public:
  void OnRecord(const RequestRecord& r) override {
    text += r.method + ' ' + r.path + ' ' + std::to_string(r.status_code) + ' ' +
            std::to_string(r.start_ns) + ' ' + std::to_string(r.end_ns) + ' ' +
            std::to_string(r.request_bytes) + ' ' + std::to_string(r.response_bytes) +
            (r.parsed_ok ? " ok\n" : " bad\n");
  }
  std::string text;
};

class Discard : public HeaderHandler {
 public:
  void OnHeader(std::string_view name, std::string_view value) override {
    bytes += name.size() + value.size();
  }
  size_t bytes = 0;
};

}  // namespace

int FuzzHttp1(const uint8_t* data, size_t size) {
  CheckingSink sink;
  {
    Http1Parser::Options o;
    o.max_header_bytes = 512;  // small cap so the bound is exercised
    o.max_pending = 4;
    Http1Parser p(o);
    ForEachEvent(data, size, [&](bool dir, uint64_t ts, auto bytes, uint64_t n) {
      p.Feed(dir, ts, bytes, n, sink);
    });
    p.Close(1u << 30, sink);
  }
  {
    // Differential: re-splitting reads must not change anything when no bytes were lost and
    // the first run never lost sync (resync is only attempted at read boundaries).
    bool gaps = false;
    ForEachEvent(data, size,
                 [&](bool, uint64_t, auto bytes, uint64_t n) { gaps |= n != bytes.size(); });
    if (!gaps) {
      Http1Parser whole;
      Http1Parser split;
      SummarySink a;
      SummarySink b;
      ForEachEvent(data, size, [&](bool dir, uint64_t ts, auto bytes, uint64_t n) {
        whole.Feed(dir, ts, bytes, n, a);
        const size_t cut = bytes.empty() ? 0 : (bytes[0] * 7u) % (bytes.size() + 1);
        split.Feed(dir, ts, bytes.subspan(0, cut), cut, b);
        split.Feed(dir, ts, bytes.subspan(cut), bytes.size() - cut, b);
      });
      if (whole.counters().sync_lost == 0) {
        if (a.text != b.text) {
          std::fprintf(stderr, "whole reads:\n%s\nsplit reads:\n%s\n", a.text.c_str(),
                       b.text.c_str());
        }
        Check(a.text == b.text, "split reads give the same records");
      }
    }
  }
  {
    // Whole input as one stream per direction, through inference.
    RouteTemplater routes(8);
    ConnectionParser::Options o;
    o.templater = &routes;
    ConnectionParser c(o);
    DataEvent ev;
    ev.direction = Direction::kIngress;
    ev.timestamp_ns = 5;
    ev.captured = std::span<const uint8_t>(data, size);
    ev.size = size;
    c.OnData(ev, sink);
    ev.direction = Direction::kEgress;
    ev.timestamp_ns = 6;
    c.OnData(ev, sink);
    c.OnClose(7, sink);
    Check(routes.size() <= 8, "route cardinality bound");
  }
  return 0;
}

int FuzzHpack(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  HpackDecoder d;
  d.SetAllowedMaxTableSize(static_cast<size_t>(data[0]) * 64);
  Discard sink;
  // Length-prefixed blocks decoded in sequence on one decoder, like a connection would.
  size_t pos = 1;
  while (pos < size) {
    size_t len = data[pos++];
    if (len > size - pos) len = size - pos;
    d.Decode(std::span<const uint8_t>(data + pos, len), sink);
    Check(d.table_size() <= d.max_table_size(), "table within its size");
    Check(d.table_size() <= HpackDecoder::kHardMaxTableSize, "table within hard cap");
    pos += len;
  }
  std::string out;
  if (HuffmanDecode(std::span<const uint8_t>(data, size), &out)) {
    std::string again;
    HuffmanEncode(out, &again);
    Check(again.size() <= size, "huffman re-encoding not longer");
  }
  return 0;
}

int FuzzHttp2(const uint8_t* data, size_t size) {
  CheckingSink sink;
  Http2Parser::Options o;
  o.max_streams = 8;
  o.max_frame_buffer = 1024;
  o.max_header_block = 2048;
  Http2Parser p(o);
  Http2Parser split(o);
  SummarySink a;
  SummarySink b;
  // Half of the inputs start with a real preface so the frame layer is reached quickly.
  const bool preface = size > 0 && (data[0] & 0x80);
  if (size > 0) {
    ++data;  // the first byte only selects the preface
    --size;
  }
  if (preface) {
    const std::string_view pre = kHttp2Preface;
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(pre.data()), pre.size());
    p.Feed(true, 0, bytes, pre.size(), sink);
    split.Feed(true, 0, bytes, pre.size(), b);
  }
  bool gaps = false;
  ForEachEvent(data, size, [&](bool dir, uint64_t ts, auto bytes, uint64_t n) {
    p.Feed(dir, ts, bytes, n, sink);
    Check(p.open_streams() <= 8, "stream bound");
    gaps |= n != bytes.size();
    if (n == bytes.size()) {
      const size_t cut = bytes.empty() ? 0 : (bytes[0] * 7u) % (bytes.size() + 1);
      split.Feed(dir, ts, bytes.subspan(0, cut), cut, b);
      split.Feed(dir, ts, bytes.subspan(cut), bytes.size() - cut, b);
    }
  });
  if (!gaps && p.counters().sync_lost == 0) {
    // Same input without the re-split, recorded the same way, must give the same records.
    Http2Parser whole(o);
    if (preface) {
      const std::string_view pre = kHttp2Preface;
      whole.Feed(true, 0,
                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pre.data()), pre.size()),
                 pre.size(), a);
    }
    ForEachEvent(data, size, [&](bool dir, uint64_t ts, auto bytes, uint64_t n) {
      whole.Feed(dir, ts, bytes, n, a);
    });
    if (a.text != b.text) {
      std::fprintf(stderr, "whole reads:\n%s\nsplit reads:\n%s\n", a.text.c_str(), b.text.c_str());
    }
    Check(a.text == b.text, "http2: split reads give the same records");
  }
  p.Close(1u << 30, sink);
  return 0;
}

namespace {

std::string H2Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const size_t n = payload.size();
  for (int shift : {16, 8, 0}) f.push_back(static_cast<char>(n >> shift));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>(stream >> shift));
  f.append(payload);
  return f;
}

// An HPACK literal header field without indexing (lengths below 127: one-byte prefixes).
std::string Literal(std::string_view name, std::string_view value) {
  std::string s(1, '\0');
  s.push_back(static_cast<char>(name.size()));
  s.append(name);
  s.push_back(static_cast<char>(value.size()));
  s.append(value);
  return s;
}

}  // namespace

// gRPC over HTTP/2 with the fuzz bytes where a peer controls them: the content-type, the
// :path, the grpc-status trailer and the length-prefixed messages in DATA frames. Input: three
// strings, each a length byte (modulo 127) and its bytes, then DATA frames, each a control byte
// (bit 0: response, bit 1: END_STREAM, bits 2-7: n, for n * 4 + 1 payload bytes) and its bytes.
int FuzzGrpc(const uint8_t* data, size_t size) {
  size_t pos = 0;
  auto field = [&]() {
    size_t n = pos < size ? data[pos++] % 127 : 0;
    n = std::min(n, size - pos);
    std::string_view s(reinterpret_cast<const char*>(data) + pos, n);
    pos += n;
    return s;
  };
  const std::string_view content_type = field();
  const std::string_view path = field();
  const std::string_view status = field();
  (void)IsGrpcContentType(content_type);
  std::string_view service;
  std::string_view method;
  if (SplitGrpcPath(path, &service, &method)) {
    Check(service.size() + method.size() < path.size(), "service and method within the path");
  }
  int code = 0;
  for (char c : status) {
    if (code < 100000) code = code * 10 + (c & 0xf);  // in int range: large codes are UNKNOWN
  }
  Check(!GrpcStatusName(code).empty(), "a status name");
  Check(!GrpcStatusName(-code).empty(), "a status name (negative)");

  CheckingSink sink;
  Http2Parser::Options o;
  o.max_streams = 8;
  o.max_frame_buffer = 1024;
  o.max_header_block = 2048;
  Http2Parser p(o);
  auto feed = [&](bool request, uint64_t ts, const std::string& bytes) {
    p.Feed(request, ts,
           std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
           bytes.size(), sink);
  };
  const std::string settings = H2Frame(4, 0, 0, "");
  feed(true, 1,
       std::string(kHttp2Preface) + settings +
           H2Frame(1, 4, 1,
                   Literal(":method", "POST") + Literal(":path", path) +
                       Literal("content-type", content_type)));
  feed(false, 2,
       settings +
           H2Frame(1, 4, 1, Literal(":status", "200") + Literal("content-type", content_type)));
  uint64_t ts = 3;
  while (pos < size) {
    const uint8_t ctl = data[pos++];
    size_t len = static_cast<size_t>(ctl >> 2) * 4 + 1;
    len = std::min(len, size - pos);
    const std::string_view chunk(reinterpret_cast<const char*>(data) + pos, len);
    pos += len;
    feed((ctl & 1) == 0, ts++, H2Frame(0, (ctl & 2) ? 1 : 0, 1, chunk));
  }
  feed(false, ts++, H2Frame(1, 5, 1, Literal("grpc-status", status)));
  p.Close(ts + 1, sink);
  return 0;
}

}  // namespace zerotrace::protocols::fuzz
