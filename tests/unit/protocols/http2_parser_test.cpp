#include "protocols/http2/http2_parser.h"

#include <gtest/gtest.h>

#include "protocols/grpc/grpc.h"
#include "test_util.h"

namespace zerotrace::protocols {
namespace {

using testing::Bytes;
using testing::EncodeBlock;
using testing::Fields;
using testing::Frame;

constexpr uint8_t kEndStream = frame_flags::kEndStream;
constexpr uint8_t kEndHeaders = frame_flags::kEndHeaders;

struct H2 {
  Http2Parser parser;
  VectorSink sink;
  void Client(const std::string& d, uint64_t ts, uint64_t size = 0) {
    parser.Feed(true, ts, Bytes(d), size ? size : d.size(), sink);
  }
  void Server(const std::string& d, uint64_t ts, uint64_t size = 0) {
    parser.Feed(false, ts, Bytes(d), size ? size : d.size(), sink);
  }
};

const Fields kGetReq = {{":method", "GET"},
                        {":scheme", "http"},
                        {":path", "/orders/42?x=1"},
                        {":authority", "shop.local:8080"},
                        {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                        {"authorization", "Bearer secret"}};

std::string Settings(uint16_t id, uint32_t value) {
  std::string p;
  p.push_back(static_cast<char>(id >> 8));
  p.push_back(static_cast<char>(id & 0xff));
  for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>((value >> s) & 0xff));
  return Frame(FrameType::kSettings, 0, 0, p);
}

TEST(Http2ParserTest, PrefaceSettingsAndSimpleExchange) {
  H2 h;
  h.Client(std::string(kHttp2Preface) + Settings(0x3, 100) +
               Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock(kGetReq, true)),
           10);
  h.Server(Settings(0x3, 100) + Frame(FrameType::kSettings, frame_flags::kAck, 0, ""), 11);
  h.Server(Frame(FrameType::kHeaders, kEndHeaders, 1,
                 EncodeBlock({{":status", "200"}, {"set-cookie", "a=b"}}, true, true)),
           12);
  h.Server(Frame(FrameType::kData, kEndStream, 1, "hello"), 13);
  ASSERT_EQ(h.sink.records.size(), 1u);
  const RequestRecord& r = h.sink.records[0];
  EXPECT_TRUE(r.parsed_ok);
  EXPECT_EQ(r.protocol, Protocol::kHttp2);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/orders/42");
  EXPECT_EQ(r.route, "/orders/{id}");
  EXPECT_EQ(r.host, "shop.local:8080");
  EXPECT_EQ(r.traceparent, kGetReq[4].second);
  EXPECT_EQ(r.status_code, 200);
  EXPECT_EQ(r.version, "HTTP/2");
  EXPECT_EQ(r.stream_id, 1u);
  EXPECT_EQ(r.start_ns, 10u);
  EXPECT_EQ(r.end_ns, 13u);
  EXPECT_EQ(h.parser.open_streams(), 0u);
  EXPECT_EQ(h.parser.counters().http2_unparsed, 0u);
  EXPECT_EQ(h.parser.counters().http2_requests, 1u);
}

TEST(Http2ParserTest, HeadersWithContinuationPaddedAndPriority) {
  const std::string block = EncodeBlock(kGetReq, true, true);
  const size_t cut = block.size() / 2;
  // HEADERS with PADDED + PRIORITY, then CONTINUATION; split across reads at every position.
  std::string headers_payload;
  headers_payload.push_back(3);                       // pad length
  headers_payload.append("\x80\x00\x00\x03\x10", 5);  // exclusive dep on 3, weight 16
  headers_payload.append(block.substr(0, cut));
  headers_payload.append(3, '\0');
  const std::string wire =
      std::string(kHttp2Preface) +
      Frame(FrameType::kHeaders, kEndStream | frame_flags::kPadded | frame_flags::kPriority, 3,
            headers_payload) +
      Frame(FrameType::kContinuation, kEndHeaders, 3, block.substr(cut));
  for (size_t i = 1; i < wire.size(); ++i) {
    H2 h;
    h.Client(wire.substr(0, i), 1);
    h.Client(wire.substr(i), 2);
    h.Server(
        Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock({{":status", "404"}})),
        3);
    ASSERT_EQ(h.sink.records.size(), 1u) << i;
    EXPECT_TRUE(h.sink.records[0].parsed_ok) << i;
    EXPECT_EQ(h.sink.records[0].path, "/orders/42");
    EXPECT_EQ(h.sink.records[0].status_code, 404);
  }
}

TEST(Http2ParserTest, RstStreamAndGoaway) {
  H2 h;
  h.Client(std::string(kHttp2Preface) +
               Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock(kGetReq)) +
               Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock(kGetReq)) +
               Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 5, EncodeBlock(kGetReq)),
           1);
  h.Server(Frame(FrameType::kRstStream, 0, 1, std::string("\0\0\0\x8", 4)), 2);  // CANCEL
  ASSERT_EQ(h.sink.records.size(), 1u);
  EXPECT_TRUE(h.sink.records[0].reset);
  EXPECT_EQ(h.sink.records[0].stream_id, 1u);
  // GOAWAY(last_stream_id=3): stream 5 was never processed.
  h.Server(Frame(FrameType::kGoaway, 0, 0, std::string("\0\0\0\x3\0\0\0\0", 8)), 3);
  EXPECT_EQ(h.parser.open_streams(), 1u);
  h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock({{":status", "503"}})),
      4);
  ASSERT_EQ(h.sink.records.size(), 2u);
  EXPECT_EQ(h.sink.records[1].status_code, 503);
  EXPECT_EQ(h.parser.open_streams(), 0u);
}

// A cancelled gRPC call: the client resets the stream while the server's trailers are in flight.
// One exchange (reset), not a second unparsed one made up from the late trailers.
TEST(Http2ParserTest, ServerFramesAfterClientResetAreNotAnotherExchange) {
  H2 h;
  h.Client(std::string(kHttp2Preface) +
               Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock(kGetReq)),
           1);
  h.Server(Frame(FrameType::kHeaders, kEndHeaders, 1, EncodeBlock({{":status", "200"}})), 2);
  h.Client(Frame(FrameType::kRstStream, 0, 1, std::string("\0\0\0\x8", 4)), 3);  // CANCEL
  h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock({{"grpc-status", "1"}})),
      4);
  ASSERT_EQ(h.sink.records.size(), 1u);
  EXPECT_TRUE(h.sink.records[0].reset);
  EXPECT_EQ(h.parser.counters().http2_unparsed, 0u);
  EXPECT_EQ(h.parser.open_streams(), 0u);
  // The HPACK state stayed in step: the next exchange parses.
  h.Client(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock(kGetReq)), 5);
  h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock({{":status", "204"}})),
      6);
  ASSERT_EQ(h.sink.records.size(), 2u);
  EXPECT_TRUE(h.sink.records[1].parsed_ok);
  EXPECT_EQ(h.sink.records[1].status_code, 204);
}

TEST(Http2ParserTest, SettingsHeaderTableSizeBoundsSizeUpdates) {
  H2 h;
  // Client advertises a 0-byte table: the server's encoder may not exceed it.
  h.Client(std::string(kHttp2Preface) + Settings(kSettingsHeaderTableSize, 0), 1);
  EXPECT_EQ(h.parser.decoder(false).allowed_max_table_size(), 0u);
  h.Client(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock(kGetReq)), 2);
  // Size update to 0 is fine, then an update to 100 violates the setting.
  h.Server(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1,
                 "\x20" + EncodeBlock({{":status", "200"}})),
           3);
  ASSERT_EQ(h.sink.records.size(), 1u);
  EXPECT_TRUE(h.sink.records[0].parsed_ok);
  h.Client(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock(kGetReq)), 4);
  h.Server(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3,
                 "\x3f\x45" + EncodeBlock({{":status", "200"}})),
           5);
  ASSERT_EQ(h.sink.records.size(), 2u);
  EXPECT_FALSE(h.sink.records[1].parsed_ok);
  EXPECT_EQ(h.parser.counters().http2_unparsed, 1u);
}

TEST(Http2ParserTest, MidStreamJoinMarksUnparsedNotWrong) {
  H2 h;
  // No preface: the client references dynamic entries (index 62, 63) we never saw.
  h.Client(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 101, "\x82\xbe\xbf"), 1);
  h.Server(Frame(FrameType::kHeaders, kEndHeaders, 101, "\x88"), 2);
  h.Server(Frame(FrameType::kData, kEndStream, 101, "x"), 3);
  ASSERT_EQ(h.sink.records.size(), 1u);
  EXPECT_FALSE(h.sink.records[0].parsed_ok);
  EXPECT_EQ(h.sink.records[0].lost_reason, LossReason::kHeadersUnreadable);
  EXPECT_EQ(h.parser.counters().http2_unparsed, 1u);
  // A response for a stream whose request we never saw is unparsed too.
  h.Server(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 99, "\x88"), 4);
  ASSERT_EQ(h.sink.records.size(), 2u);
  EXPECT_FALSE(h.sink.records[1].parsed_ok);
}

TEST(Http2ParserTest, TruncatedDataFramesAreSkippedByTrueSize) {
  H2 h;
  h.Client(std::string(kHttp2Preface) +
               Frame(FrameType::kHeaders, kEndHeaders, 1,
                     EncodeBlock({{":method", "POST"}, {":path", "/upload"}}, true)),
           1);
  // A 100 KB DATA frame of which only 16 KiB is captured.
  const std::string data_frame = Frame(FrameType::kData, kEndStream, 1, std::string(100000, 'z'));
  h.Client(data_frame.substr(0, 16384), 2, data_frame.size());
  h.Server(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1,
                 EncodeBlock({{":status", "200"}}, true)),
           3);
  ASSERT_EQ(h.sink.records.size(), 1u);
  EXPECT_TRUE(h.sink.records[0].parsed_ok);
  EXPECT_EQ(h.sink.records[0].request_bytes,
            data_frame.size() + 9 +
                EncodeBlock({{":method", "POST"}, {":path", "/upload"}}, true).size());
}

TEST(Http2ParserTest, LostFrameHeaderMarksLaterStreamsUnparsed) {
  H2 h;
  h.Client(std::string(kHttp2Preface), 1);
  const std::string two =
      Frame(FrameType::kData, 0, 1, std::string(20000, 'a')) +
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock(kGetReq, true));
  h.Client(two.substr(0, 16384), 2, two.size());  // second frame header not captured
  h.Client(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 5, EncodeBlock(kGetReq)), 3);
  h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 5, EncodeBlock({{":status", "200"}})),
      4);
  ASSERT_EQ(h.sink.records.size(), 1u);
  EXPECT_FALSE(h.sink.records[0].parsed_ok);
  EXPECT_EQ(h.sink.records[0].lost_reason, LossReason::kHeadersUnreadable);
}

// Every stream a client opens ends as a record or a counted loss: 1000 in flight on one
// connection are all recorded; past the stream bound the rest are lost as stream_limit, and the
// streams still open when the connection closes as connection_closed.
TEST(Http2ParserTest, ThousandConcurrentStreamsAreExactAndBoundsAreCounted) {
  for (const size_t bound : {size_t{2048}, size_t{600}}) {
    Http2Parser::Options o;
    o.max_streams = bound;
    H2 h{Http2Parser(o), {}};
    std::string requests(kHttp2Preface);
    for (uint32_t i = 0; i < 1000; ++i) {
      requests += Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 2 * i + 1,
                        EncodeBlock(kGetReq, true));
    }
    h.Client(requests, 1);
    std::string responses;
    for (uint32_t i = 0; i < 1000; ++i) {
      responses += Frame(FrameType::kHeaders, kEndHeaders, 2 * i + 1,
                         EncodeBlock({{":status", "200"}}, true));
      responses += Frame(FrameType::kData, kEndStream, 2 * i + 1, "ok");
    }
    h.Server(responses, 2);
    // Three more requests that never get an answer.
    for (uint32_t id : {2001u, 2003u, 2005u}) {
      h.Client(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, id, EncodeBlock(kGetReq)), 3);
    }
    h.parser.Close(4, h.sink);
    size_t ok = 0;
    for (const auto& r : h.sink.records) ok += r.parsed_ok;
    EXPECT_EQ(ok, std::min<size_t>(1000, bound)) << bound;
    EXPECT_EQ(h.sink.records.size(), ok);
    EXPECT_EQ(h.sink.lost[static_cast<size_t>(LossReason::kStreamLimit)], 1000 - ok) << bound;
    EXPECT_EQ(h.sink.lost[static_cast<size_t>(LossReason::kConnectionClosed)], 3u);
    EXPECT_EQ(ok + h.sink.lost_total, 1003u);
  }
}

// Only the start of the preface captured, then a gap (a capture limit under 24 bytes, or a copy
// that failed): the direction must pick frames up again at a later write boundary instead of
// taking every later byte for the rest of the preface. The table is unknown after the gap, so
// the exchange is counted as unparsed, not dropped.
TEST(Http2ParserTest, PartialPrefaceThenGapResyncsOnLaterFrames) {
  H2 h;
  const std::string first = std::string(kHttp2Preface) + Settings(0x3, 100);
  h.Client(first.substr(0, 10), 1, first.size());
  h.Client(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock(kGetReq)), 2);
  h.Server(Settings(0x3, 100), 3);
  h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock({{":status", "200"}})),
      4);
  ASSERT_EQ(h.sink.records.size(), 1u);
  EXPECT_EQ(h.sink.records[0].stream_id, 1u);
  EXPECT_EQ(h.sink.records[0].start_ns, 2u);  // the request's frame was seen
  EXPECT_EQ(h.sink.records[0].end_ns, 4u);
  EXPECT_FALSE(h.sink.records[0].parsed_ok);
  EXPECT_EQ(h.parser.open_streams(), 0u);
}

// --- gRPC ---

Fields GrpcReq(const std::string& path) {
  return {{":method", "POST"},
          {":scheme", "http"},
          {":path", path},
          {":authority", "greeter:50051"},
          {"content-type", "application/grpc"},
          {"te", "trailers"},
          {"grpc-timeout", "1S"}};
}

std::string GrpcMessage(size_t n) {
  std::string m(5, '\0');
  m[4] = static_cast<char>(n);
  return m + std::string(n, 'p');
}

struct GrpcCall {
  H2 h;
  GrpcCall() { h.Client(std::string(kHttp2Preface) + Settings(0x4, 65535), 0); }
  void Request(uint32_t id, const std::string& path, uint64_t ts) {
    h.Client(Frame(FrameType::kHeaders, kEndHeaders, id, EncodeBlock(GrpcReq(path), true, true)) +
                 Frame(FrameType::kData, kEndStream, id, GrpcMessage(10)),
             ts);
  }
};

TEST(GrpcTest, UnaryOk) {
  GrpcCall c;
  c.Request(1, "/helloworld.Greeter/SayHello", 100);
  c.h.Server(Frame(FrameType::kHeaders, kEndHeaders, 1,
                   EncodeBlock({{":status", "200"}, {"content-type", "application/grpc"}}, true)) +
                 Frame(FrameType::kData, 0, 1, GrpcMessage(7)),
             150);
  c.h.Server(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1,
                   EncodeBlock({{"grpc-status", "0"}, {"grpc-message", ""}})),
             160);
  ASSERT_EQ(c.h.sink.records.size(), 1u);
  const RequestRecord& r = c.h.sink.records[0];
  EXPECT_TRUE(r.parsed_ok);
  EXPECT_EQ(r.protocol, Protocol::kGrpc);
  EXPECT_EQ(r.rpc_service, "helloworld.Greeter");
  EXPECT_EQ(r.rpc_method, "SayHello");
  EXPECT_EQ(r.grpc_status, 0);
  EXPECT_EQ(r.status_code, 200);
  EXPECT_EQ(r.start_ns, 100u);
  EXPECT_EQ(r.end_ns, 160u);
  EXPECT_EQ(c.h.parser.counters().grpc_requests, 1u);
}

TEST(GrpcTest, FailingCallNotFound) {
  GrpcCall c;
  c.Request(1, "/shop.v1.Catalog/GetItem", 1);
  c.h.Server(Frame(FrameType::kHeaders, kEndHeaders, 1,
                   EncodeBlock({{":status", "200"}, {"content-type", "application/grpc+proto"}})),
             2);
  c.h.Server(Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1,
                   EncodeBlock({{"grpc-status", "5"}, {"grpc-message", "item not found"}})),
             3);
  ASSERT_EQ(c.h.sink.records.size(), 1u);
  EXPECT_EQ(c.h.sink.records[0].grpc_status, 5);
  EXPECT_EQ(GrpcStatusName(c.h.sink.records[0].grpc_status), "NOT_FOUND");
  EXPECT_EQ(c.h.sink.records[0].rpc_service, "shop.v1.Catalog");
}

TEST(GrpcTest, TrailersOnlyResponse) {
  GrpcCall c;
  c.Request(1, "/shop.v1.Catalog/GetItem", 1);
  c.h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1,
            EncodeBlock(
                {{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "12"}})),
      2);
  ASSERT_EQ(c.h.sink.records.size(), 1u);
  EXPECT_EQ(c.h.sink.records[0].grpc_status, 12);
  EXPECT_TRUE(c.h.sink.records[0].parsed_ok);
}

TEST(GrpcTest, ServerStreamingIsOneRecordPerStream) {
  GrpcCall c;
  c.Request(1, "/feed.Feed/Subscribe", 10);
  c.Request(3, "/feed.Feed/Subscribe", 11);
  c.h.Server(Frame(FrameType::kHeaders, kEndHeaders, 1,
                   EncodeBlock({{":status", "200"}, {"content-type", "application/grpc"}}, true)),
             20);
  c.h.Server(Frame(FrameType::kHeaders, kEndHeaders, 3, "\xbf\xbe"), 21);  // indexed from table
  for (int i = 0; i < 50; ++i) {
    c.h.Server(Frame(FrameType::kData, 0, 1 + 2 * (i % 2), GrpcMessage(20)), 30 + i);
  }
  c.h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 3, EncodeBlock({{"grpc-status", "0"}})),
      90);
  c.h.Server(
      Frame(FrameType::kHeaders, kEndHeaders | kEndStream, 1, EncodeBlock({{"grpc-status", "0"}})),
      91);
  ASSERT_EQ(c.h.sink.records.size(), 2u);
  EXPECT_EQ(c.h.sink.records[0].stream_id, 3u);
  EXPECT_EQ(c.h.sink.records[0].end_ns, 90u);
  EXPECT_EQ(c.h.sink.records[1].stream_id, 1u);
  EXPECT_EQ(c.h.sink.records[1].start_ns, 10u);
  for (const auto& r : c.h.sink.records) {
    EXPECT_TRUE(r.parsed_ok);
    EXPECT_EQ(r.protocol, Protocol::kGrpc);
    EXPECT_EQ(r.rpc_method, "Subscribe");
    EXPECT_EQ(r.grpc_status, 0);
  }
  EXPECT_EQ(c.h.parser.counters().grpc_unparsed, 0u);
  EXPECT_EQ(c.h.parser.counters().grpc_requests, 2u);
}

TEST(GrpcTest, PathAndContentTypeHelpers) {
  std::string_view s, m;
  EXPECT_TRUE(SplitGrpcPath("/a.b.C/D", &s, &m));
  EXPECT_EQ(s, "a.b.C");
  EXPECT_EQ(m, "D");
  EXPECT_FALSE(SplitGrpcPath("/only", &s, &m));
  EXPECT_FALSE(SplitGrpcPath("/a/b/c", &s, &m));
  EXPECT_TRUE(IsGrpcContentType("application/grpc"));
  EXPECT_TRUE(IsGrpcContentType("application/grpc+json"));
  EXPECT_FALSE(IsGrpcContentType("application/grpcx"));
  EXPECT_FALSE(IsGrpcContentType("application/json"));
}

TEST(Http2FrameTest, Plausibility) {
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(Settings(0x3, 100))));
  EXPECT_TRUE(LooksLikeHttp2Preface(kHttp2Preface));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(std::string("GET / HTTP/1.1\r\n\r\n"))));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(FrameType::kData, 0, 0, "x"))));
  // Binary data that reads as one plausible frame header (a HEADERS frame of 65793 bytes on
  // stream 0x01010101) but does not fill the call as frames: not HTTP/2, unless the call was
  // longer than what was captured.
  const std::string ones(64, '\x01');
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(ones)));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(ones), /*truncated=*/true));
  const std::string two =
      Settings(0x3, 100) + Frame(FrameType::kWindowUpdate, 0, 0, std::string("\0\0\0\1", 4));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(two)));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(two.substr(0, two.size() - 1))));
  // A read that ends inside its third frame, after two whole ones.
  const std::string three = two + Frame(FrameType::kData, 0, 1, std::string(100, 'd'));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(three.substr(0, three.size() - 50))));
}

}  // namespace
}  // namespace zerotrace::protocols
