#include "protocols/common/connection_parser.h"

#include <gtest/gtest.h>

#include "protocols/common/protocol_inference.h"
#include "test_util.h"

namespace zerotrace::protocols {
namespace {

using testing::Bytes;
using testing::EncodeBlock;
using testing::Event;
using testing::Frame;

constexpr std::string_view kReq = "GET /users/7?secret=1 HTTP/1.1\r\nHost: api\r\n\r\n";
constexpr std::string_view kResp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

TEST(ConnectionParserTest, ServerTimingFirstByteReadToLastByteWritten) {
  ConnectionParser::Options o;
  o.role = Role::kServer;
  ConnectionParser c(o);
  VectorSink sink;
  c.OnData(Event(Direction::kIngress, 1000, kReq.substr(0, 10)), sink);
  c.OnData(Event(Direction::kIngress, 1100, kReq.substr(10)), sink);
  c.OnData(Event(Direction::kEgress, 5000, kResp.substr(0, 20)), sink);
  c.OnData(Event(Direction::kEgress, 5200, kResp.substr(20)), sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::kServer);
  EXPECT_EQ(sink.records[0].start_ns, 1000u);
  EXPECT_EQ(sink.records[0].end_ns, 5200u);
  EXPECT_EQ(sink.records[0].route, "/users/{id}");
  EXPECT_EQ(c.protocol(), Protocol::kHttp1);
}

TEST(ConnectionParserTest, ClientTimingFirstByteWrittenToLastByteRead) {
  ConnectionParser::Options o;
  o.role = Role::kClient;
  ConnectionParser c(o);
  VectorSink sink;
  c.OnData(Event(Direction::kEgress, 10, kReq), sink);
  c.OnData(Event(Direction::kIngress, 30, kResp.substr(0, 5)), sink);
  c.OnData(Event(Direction::kIngress, 45, kResp.substr(5)), sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::kClient);
  EXPECT_EQ(sink.records[0].start_ns, 10u);
  EXPECT_EQ(sink.records[0].end_ns, 45u);
}

TEST(ConnectionParserTest, UnknownRoleInferredFromRequestDirection) {
  {
    ConnectionParser c;
    VectorSink sink;
    c.OnData(Event(Direction::kEgress, 1, kReq), sink);
    c.OnData(Event(Direction::kIngress, 2, kResp), sink);
    EXPECT_EQ(c.role(), Role::kClient);
    ASSERT_EQ(sink.records.size(), 1u);
  }
  {
    ConnectionParser c;
    VectorSink sink;
    c.OnData(Event(Direction::kIngress, 1, kReq), sink);
    c.OnData(Event(Direction::kEgress, 2, kResp), sink);
    EXPECT_EQ(c.role(), Role::kServer);
    ASSERT_EQ(sink.records.size(), 1u);
    EXPECT_EQ(sink.records[0].role, Role::kServer);
  }
}

TEST(ConnectionParserTest, Http2AndGrpcDetected) {
  ConnectionParser::Options o;
  o.role = Role::kServer;
  RouteTemplater routes(10);
  o.templater = &routes;
  ConnectionParser c(o);
  VectorSink sink;
  const std::string req =
      std::string(kHttp2Preface) + Frame(FrameType::kHeaders,
                                         frame_flags::kEndHeaders | frame_flags::kEndStream, 1,
                                         EncodeBlock({{":method", "POST"},
                                                      {":path", "/pkg.Svc/Do"},
                                                      {"content-type", "application/grpc"}}));
  c.OnData(Event(Direction::kIngress, 7, req), sink);
  c.OnData(Event(Direction::kEgress, 9,
                 Frame(FrameType::kHeaders, frame_flags::kEndHeaders | frame_flags::kEndStream, 1,
                       EncodeBlock({{":status", "200"}, {"grpc-status", "0"}}))),
           sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].protocol, Protocol::kGrpc);
  EXPECT_EQ(sink.records[0].rpc_service, "pkg.Svc");
  EXPECT_EQ(sink.records[0].start_ns, 7u);
  EXPECT_EQ(sink.records[0].end_ns, 9u);
  EXPECT_EQ(c.protocol(), Protocol::kHttp2);
  EXPECT_EQ(routes.size(), 1u);
}

TEST(ConnectionParserTest, UnknownProtocolIgnoredAndCounted) {
  ConnectionParser c;
  VectorSink sink;
  const std::string tls = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
  for (int i = 0; i < 10; ++i) c.OnData(Event(Direction::kIngress, i, tls), sink);
  EXPECT_TRUE(c.ignored());
  EXPECT_EQ(c.counters().unknown_protocol_connections, 1u);
  EXPECT_EQ(c.TakeCounters().unknown_protocol_connections, 1u);
  EXPECT_EQ(c.TakeCounters().unknown_protocol_connections, 0u);
}

TEST(ConnectionParserTest, CountersTrackBytesAndRequests) {
  ConnectionParser c;
  VectorSink sink;
  c.OnData(Event(Direction::kIngress, 1, kReq), sink);
  c.OnData(Event(Direction::kEgress, 2, kResp), sink);
  const ParserCounters k = c.counters();
  EXPECT_EQ(k.http1_requests, 1u);
  EXPECT_EQ(k.bytes_parsed, kReq.size() + kResp.size());
}

TEST(ProtocolInferenceTest, Basics) {
  EXPECT_EQ(InferProtocol(Bytes(kReq)).protocol, Protocol::kHttp1);
  EXPECT_TRUE(InferProtocol(Bytes(kReq)).from_client);
  EXPECT_FALSE(InferProtocol(Bytes(kResp)).from_client);
  EXPECT_EQ(InferProtocol(Bytes(kHttp2Preface)).protocol, Protocol::kHttp2);
  EXPECT_EQ(InferProtocol(Bytes(std::string_view("\x16\x03\x01"))).protocol, Protocol::kUnknown);
}

}  // namespace
}  // namespace zerotrace::protocols

namespace zerotrace::protocols {
namespace {

// RFC 7540 3.2: the upgrading HTTP/1.1 request is stream 1 of the HTTP/2 connection, and its
// response comes as stream 1's HEADERS/DATA after the 101: one exchange, not a 101 record plus an
// unparsed stream.
TEST(ConnectionParserTest, H2cUpgradeSwitchesToHttp2) {
  ConnectionParser::Options o;
  o.role = Role::kServer;
  ConnectionParser c(o);
  VectorSink sink;
  c.OnData(Event(Direction::kIngress, 1,
                 "GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                 "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"),
           sink);
  c.OnData(Event(Direction::kEgress, 2,
                 "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"),
           sink);
  EXPECT_TRUE(sink.records.empty());
  EXPECT_EQ(c.protocol(), Protocol::kHttp2);
  const std::string preface = std::string(kHttp2Preface) + Frame(FrameType::kSettings, 0, 0, "");
  c.OnData(Event(Direction::kIngress, 3, preface), sink);
  c.OnData(Event(Direction::kEgress, 4,
                 Frame(FrameType::kSettings, 0, 0, "") + Frame(FrameType::kHeaders,
                                                               frame_flags::kEndHeaders, 1,
                                                               EncodeBlock({{":status", "200"}}))),
           sink);
  c.OnData(Event(Direction::kEgress, 5, Frame(FrameType::kData, frame_flags::kEndStream, 1, "ok")),
           sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].path, "/up");
  EXPECT_EQ(sink.records[0].method, "GET");
  EXPECT_EQ(sink.records[0].status_code, 200);
  EXPECT_EQ(sink.records[0].protocol, Protocol::kHttp2);
  EXPECT_EQ(sink.records[0].start_ns, 1u);
  EXPECT_EQ(sink.records[0].end_ns, 5u);
  EXPECT_TRUE(sink.records[0].parsed_ok);
  // Later streams parse as usual.
  c.OnData(Event(Direction::kIngress, 6,
                 Frame(FrameType::kHeaders, frame_flags::kEndHeaders | frame_flags::kEndStream, 3,
                       EncodeBlock({{":method", "GET"}, {":path", "/two"}}))),
           sink);
  c.OnData(Event(Direction::kEgress, 7,
                 Frame(FrameType::kHeaders, frame_flags::kEndHeaders | frame_flags::kEndStream, 3,
                       EncodeBlock({{":status", "200"}}))),
           sink);
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].path, "/two");
  EXPECT_TRUE(sink.records[1].parsed_ok);
  EXPECT_EQ(c.counters().http2_unparsed, 0u);
}

}  // namespace
}  // namespace zerotrace::protocols

namespace zerotrace::protocols {
namespace {

TEST(ConnectionParserTest, Http1MidStreamJoinCountsOrphanResponse) {
  ConnectionParser c;  // role unknown: pre-existing connection
  VectorSink sink;
  c.OnData(Event(Direction::kIngress, 1, "tail of a request body"), sink);
  c.OnData(Event(Direction::kEgress, 2, kResp), sink);  // its response: no request to pair
  EXPECT_EQ(c.protocol(), Protocol::kHttp1);
  EXPECT_EQ(c.role(), Role::kServer);
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(c.counters().http1_unparsed, 1u);
  c.OnData(Event(Direction::kIngress, 3, kReq), sink);
  c.OnData(Event(Direction::kEgress, 4, kResp), sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_TRUE(sink.records[0].parsed_ok);
  EXPECT_EQ(sink.records[0].start_ns, 3u);
}

TEST(ConnectionParserTest, Http2ClientTiming) {
  ConnectionParser::Options o;
  o.role = Role::kClient;
  ConnectionParser c(o);
  VectorSink sink;
  c.OnData(Event(Direction::kEgress, 100,
                 std::string(kHttp2Preface) +
                     Frame(FrameType::kHeaders, frame_flags::kEndHeaders, 1,
                           EncodeBlock({{":method", "POST"}, {":path", "/a/1"}}))),
           sink);
  c.OnData(Event(Direction::kEgress, 110, Frame(FrameType::kData, frame_flags::kEndStream, 1, "x")),
           sink);
  c.OnData(Event(Direction::kIngress, 300,
                 Frame(FrameType::kHeaders, frame_flags::kEndHeaders, 1,
                       EncodeBlock({{":status", "201"}}))),
           sink);
  c.OnData(Event(Direction::kIngress, 350, Frame(FrameType::kData, frame_flags::kEndStream, 1, "")),
           sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::kClient);
  EXPECT_EQ(sink.records[0].start_ns, 100u);
  EXPECT_EQ(sink.records[0].end_ns, 350u);
  EXPECT_EQ(sink.records[0].status_code, 201);
  EXPECT_EQ(sink.records[0].route, "/a/{id}");
}

}  // namespace
}  // namespace zerotrace::protocols
