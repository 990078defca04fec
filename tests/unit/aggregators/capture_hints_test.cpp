// ConnTracker's capture hints: what it asks the kernel not to copy (the rest of a large HTTP/1
// body, every byte of an ignored connection), and how it reads events whose bytes were left in
// the kernel (a stream offset jump, a capture starting inside the call).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "aggregators/conn_tracker.h"
#include "sock_event_test_util.h"

namespace zerotrace {
namespace {

class FakeHints : public CaptureHints {
 public:
  bool SetSkip(const sock_skip_key& key, const sock_skip_value& value) override {
    skips[{key.tgid, key.fd, key.gen}] = value;
    ++sets;
    return true;
  }
  void ClearSkip(const sock_skip_key& key) override { skips.erase({key.tgid, key.fd, key.gen}); }
  std::map<std::tuple<uint32_t, int32_t, uint64_t>, sock_skip_value> skips;
  int sets = 0;
};

class Records : public RequestConsumer {
 public:
  void OnRequest(const protocols::RequestRecord& r, const ConnMeta&) override {
    records.push_back(r);
  }
  std::vector<protocols::RequestRecord> records;
};

constexpr uint32_t kTgid = 4242;  // not a live process: named by its comm
constexpr int32_t kFd = 7;
constexpr uint64_t kGen = 99;

struct Fixture {
  Fixture() : catalog("/nonexistent-proc"), tracker(catalog) {
    tracker.AddConsumer(&records);
    tracker.SetCaptureHints(&hints);
    sock_event_header h = Header(SOCK_EVENT_OPEN, 1);
    tracker.OnEvent(h, nullptr);
  }
  static sock_event_header Header(uint8_t type, uint64_t ts) {
    return testing::SockEventHeader(type, ts, kTgid, kFd, kGen, SOCK_ROLE_SERVER);
  }
  // `bytes` as the captured part of a call of `size` bytes at stream offset `off`, captured from
  // `from` bytes into the call.
  // `flags` and `segments`: SOCK_EV_H2_FRAMED / SOCK_EV_SEGMENT events (HTTP/2 frame following).
  void Data(uint8_t dir, uint64_t ts, uint64_t off, const std::string& bytes, uint64_t size = 0,
            uint32_t from = 0, uint32_t flags = 0, uint32_t segments = 0) {
    sock_event_header h = Header(SOCK_EVENT_DATA, ts);
    h.direction = dir;
    h.size = size ? size : bytes.size();
    h.captured = static_cast<uint32_t>(bytes.size());
    h.stream_off = off;
    h.captured_from = from;
    h.flags = SOCK_EV_STREAM_OFF | flags;
    h.segments = segments;
    tracker.OnEvent(h, reinterpret_cast<const uint8_t*>(bytes.data()));
  }
  const sock_skip_value* Skip() const {
    auto it = hints.skips.find({kTgid, kFd, kGen});
    return it == hints.skips.end() ? nullptr : &it->second;
  }

  ProcessCatalog catalog;
  ConnTracker tracker;
  FakeHints hints;
  Records records;
};

TEST(CaptureHintsTest, LargeBodyIsHintedAndItsSkippedBytesKeepTheParserInStep) {
  Fixture f;
  const std::string req = "GET /model.bin HTTP/1.1\r\nHost: x\r\n\r\n";
  f.Data(SOCK_DIR_INGRESS, 10, 0, req);
  const uint64_t body = 1 << 20;
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body) + "\r\n\r\n";
  const std::string first(1000, 'b');
  f.Data(SOCK_DIR_EGRESS, 20, 0, head + first);
  const auto* skip = f.Skip();
  ASSERT_NE(skip, nullptr);
  EXPECT_EQ(skip->until[SOCK_DIR_EGRESS], head.size() + body);  // the end of the body
  EXPECT_EQ(skip->until[SOCK_DIR_INGRESS], 0u);
  // The kernel sent nothing until the call that crosses the end, captured from the end on; that
  // call also carries the start of the next response.
  const uint64_t last_off = head.size() + body - 500;
  const std::string next = "HTTP/1.1 204 No Content\r\n\r\n";
  f.Data(SOCK_DIR_INGRESS, 25, req.size(), req);
  f.Data(SOCK_DIR_EGRESS, 30, last_off, next, 500 + next.size(), 500);
  ASSERT_EQ(f.records.records.size(), 2u);
  EXPECT_TRUE(f.records.records[0].parsed_ok);
  EXPECT_EQ(f.records.records[0].status_code, 200);
  EXPECT_EQ(f.records.records[0].end_ns, 30u);
  EXPECT_EQ(f.records.records[0].response_bytes, head.size() + body);
  EXPECT_TRUE(f.records.records[1].parsed_ok);
  EXPECT_EQ(f.records.records[1].status_code, 204);
  EXPECT_EQ(f.tracker.counters().bytes_not_copied, body - first.size());
}

// An offset jump outside any hinted range is an event lost to a full ring or two threads'
// calls out of order: fed as it comes (as without hints), not as a gap that could double-count.
TEST(CaptureHintsTest, JumpsOutsideAHintAreNotGaps) {
  Fixture f;
  f.Data(SOCK_DIR_INGRESS, 10, 500, "GET /a HTTP/1.1\r\n\r\n");
  f.Data(SOCK_DIR_EGRESS, 20, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  f.Data(SOCK_DIR_INGRESS, 30, 9000, "GET /b HTTP/1.1\r\n\r\n");
  f.Data(SOCK_DIR_EGRESS, 40, 700, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(f.records.records.size(), 2u);
  EXPECT_TRUE(f.records.records[0].parsed_ok);
  EXPECT_TRUE(f.records.records[1].parsed_ok);
  EXPECT_EQ(f.records.records[1].path, "/b");
  EXPECT_EQ(f.tracker.counters().bytes_not_copied, 0u);
}

TEST(CaptureHintsTest, SmallBodiesAreNotHinted) {
  Fixture f;
  f.Data(SOCK_DIR_INGRESS, 10, 0, "GET / HTTP/1.1\r\n\r\n");
  f.Data(SOCK_DIR_EGRESS, 20, 0, "HTTP/1.1 200 OK\r\nContent-Length: 30000\r\n\r\nabc");
  EXPECT_EQ(f.hints.sets, 0);
}

TEST(CaptureHintsTest, IgnoredConnectionIsSkippedWholeAndClearedAtClose) {
  Fixture f;
  const std::string junk = "*1\r\n$4\r\nPING\r\n";  // Redis: not HTTP
  for (int i = 0; i < 10; ++i) f.Data(SOCK_DIR_INGRESS, 10 + i, junk.size() * i, junk);
  const auto* skip = f.Skip();
  ASSERT_NE(skip, nullptr);
  EXPECT_EQ(skip->until[0], ZT_SOCK_SKIP_ALL);
  EXPECT_EQ(skip->until[1], ZT_SOCK_SKIP_ALL);
  f.tracker.OnEvent(Fixture::Header(SOCK_EVENT_CLOSE, 100), nullptr);
  f.tracker.SweepClosed(100 + ConnTracker::kCloseLingerNs);
  EXPECT_EQ(f.Skip(), nullptr);
}

// HTTP/2 frame following: a call far larger than the capture arrives as its first bytes, then
// SEGMENT events with the frame headers and header blocks the kernel found further on.
std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  f += static_cast<char>(payload.size() >> 16);
  f += static_cast<char>(payload.size() >> 8);
  f += static_cast<char>(payload.size());
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>(stream >> 24);
  f += static_cast<char>(stream >> 16);
  f += static_cast<char>(stream >> 8);
  f += static_cast<char>(stream);
  return f + payload;
}

constexpr uint8_t kData = 0, kHeaders = 1, kSettings = 4;
constexpr uint8_t kEndStream = 1, kEndHeaders = 4;
// GET http://a/ (static table: :method GET, :scheme http, :path /; :authority literal "a").
const std::string kGetBlock = std::string("\x82\x86\x84\x41\x01", 5) + "a";
const std::string kStatus200 = "\x88";
// A trailer with incremental indexing ("x-t: 1"), which a later response refers to by index:
// losing it would desynchronise the decoder for the rest of the connection.
const std::string kTrailerBlock = std::string("\x40\x03x-t\x01", 6) + "1";
const std::string kIndexedTrailer = "\xbe";  // dynamic table entry 62: x-t: 1

struct H2Fixture : Fixture {
  H2Fixture() {
    const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const std::string in = preface + Frame(kSettings, 0, 0, "") +
                           Frame(kHeaders, kEndHeaders | kEndStream, 1, kGetBlock);
    Data(SOCK_DIR_INGRESS, 10, 0, in);
    in_off = in.size();
    const std::string out = Frame(kSettings, 0, 0, "");
    Data(SOCK_DIR_EGRESS, 11, 0, out);
    out_off = out.size();
  }
  // The response to stream `id` in one call: HEADERS, a DATA frame of `body` bytes, trailers.
  // Returns the whole call; `trailer_at` is where the trailers frame starts in it.
  std::string Response(uint32_t id, size_t body, const std::string& trailers, size_t* trailer_at) {
    std::string call =
        Frame(kHeaders, kEndHeaders, id, kStatus200) + Frame(kData, 0, id, std::string(body, 'd'));
    *trailer_at = call.size();
    return call + Frame(kHeaders, kEndHeaders | kEndStream, id, trailers);
  }
  void Request(uint32_t id, uint64_t ts) {
    const std::string f = Frame(kHeaders, kEndHeaders | kEndStream, id, kGetBlock);
    Data(SOCK_DIR_INGRESS, ts, in_off, f);
    in_off += f.size();
  }
  uint64_t in_off = 0, out_off = 0;
};

TEST(CaptureHintsTest, Http2SegmentsCarryTheFramesPastTheCapture) {
  H2Fixture f;
  size_t at = 0;
  const std::string call = f.Response(1, 200000, kTrailerBlock, &at);
  const size_t head = 1000;  // the capture: HEADERS, the DATA header, some payload
  f.Data(SOCK_DIR_EGRESS, 20, f.out_off, call.substr(0, head), call.size(), 0, SOCK_EV_H2_FRAMED,
         1);
  EXPECT_TRUE(f.records.records.empty());  // the trailers (END_STREAM) are still to come
  f.Data(SOCK_DIR_EGRESS, 20, f.out_off, call.substr(at), call.size(), at, SOCK_EV_SEGMENT, 0);
  f.out_off += call.size();
  ASSERT_EQ(f.records.records.size(), 1u);
  EXPECT_TRUE(f.records.records[0].parsed_ok);
  EXPECT_EQ(f.records.records[0].status_code, 200);
  EXPECT_EQ(f.records.records[0].end_ns, 20u);
  EXPECT_EQ(f.tracker.counters().bytes_not_copied, at - head);
  EXPECT_EQ(f.tracker.counters().segments_unmatched, 0u);
  // The trailer entered the decoder's dynamic table; a later response that refers to it by
  // index decodes, so the connection stays parsable.
  f.Request(3, 30);
  size_t at2 = 0;
  const std::string small = f.Response(3, 10, kIndexedTrailer, &at2);
  f.Data(SOCK_DIR_EGRESS, 40, f.out_off, small);
  ASSERT_EQ(f.records.records.size(), 2u);
  EXPECT_TRUE(f.records.records[1].parsed_ok);
  EXPECT_EQ(f.records.records[1].status_code, 200);
}

// The SEGMENT event never came (the ring was full): the rest of the call reaches the parser as
// uncaptured bytes when the next event of that direction arrives, and the request is not
// completed with made-up data.
TEST(CaptureHintsTest, Http2LostSegmentIsAGapNotACrash) {
  H2Fixture f;
  size_t at = 0;
  const std::string call = f.Response(1, 100000, kTrailerBlock, &at);
  f.Data(SOCK_DIR_EGRESS, 20, f.out_off, call.substr(0, 500), call.size(), 0, SOCK_EV_H2_FRAMED, 1);
  f.out_off += call.size();
  f.Request(3, 30);
  size_t at2 = 0;
  f.Data(SOCK_DIR_EGRESS, 40, f.out_off, f.Response(3, 10, kTrailerBlock, &at2));
  for (const auto& r : f.records.records) EXPECT_NE(r.stream_id, 1u) << "stream 1 has no end";
  EXPECT_EQ(f.tracker.counters().bytes_not_copied, call.size() - 500);
}

TEST(CaptureHintsTest, Http2SegmentWithoutItsCallIsCountedAndDropped) {
  H2Fixture f;
  f.Data(SOCK_DIR_EGRESS, 20, 12345, Frame(kHeaders, kEndHeaders, 1, kStatus200), 50000, 40000,
         SOCK_EV_SEGMENT, 0);
  EXPECT_EQ(f.tracker.counters().segments_unmatched, 1u);
  EXPECT_TRUE(f.records.records.empty());
}

}  // namespace
}  // namespace zerotrace

namespace zerotrace {
namespace {

// The fd is reused by a new connection before the old one's CLOSE (from the TCP state change)
// is read: that late CLOSE must not end the new connection, whose parser would then restart
// mid-stream.
TEST(ConnTrackerGenerationsTest, ALateCloseOfTheEarlierConnectionLeavesTheNextOneAlone) {
  Fixture f;  // connection kGen open on (kTgid, kFd)
  const std::string req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  // The next connection on the same fd, announced before the old one's CLOSE arrives.
  sock_event_header open = Fixture::Header(SOCK_EVENT_OPEN, 10);
  open.gen = kGen + 1;
  f.tracker.OnEvent(open, nullptr);
  auto data = [&](uint8_t dir, uint64_t ts, uint64_t off, const std::string& bytes) {
    sock_event_header h = Fixture::Header(SOCK_EVENT_DATA, ts);
    h.gen = kGen + 1;
    h.direction = dir;
    h.size = h.captured = static_cast<uint32_t>(bytes.size());
    h.stream_off = off;
    h.flags = SOCK_EV_STREAM_OFF;
    f.tracker.OnEvent(h, reinterpret_cast<const uint8_t*>(bytes.data()));
  };
  data(SOCK_DIR_INGRESS, 11, 0, req.substr(0, 10));
  f.tracker.OnEvent(Fixture::Header(SOCK_EVENT_CLOSE, 12), nullptr);  // the old one's, late
  data(SOCK_DIR_INGRESS, 13, 10, req.substr(10));
  data(SOCK_DIR_EGRESS, 14, 0, resp);
  ASSERT_EQ(f.records.records.size(), 1u);
  EXPECT_TRUE(f.records.records[0].parsed_ok);
  EXPECT_EQ(f.records.records[0].path, "/a");
  EXPECT_EQ(f.tracker.counters().events_late, 1u);
  EXPECT_EQ(f.tracker.counters().generation_switches, 1u);  // the old one's close not yet seen
}

}  // namespace
}  // namespace zerotrace
