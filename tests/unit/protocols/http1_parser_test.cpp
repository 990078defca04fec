#include "protocols/http1/http1_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace zerotrace::protocols {
namespace {

using testing::Bytes;

constexpr std::string_view kReq =
    "GET /users/123?token=secret HTTP/1.1\r\nHost: api.example.com\r\n"
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
    "tracestate: congo=t61rcWkgMzE\r\nAuthorization: Bearer xyz\r\nCookie: a=b\r\n\r\n";
constexpr std::string_view kResp =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: s=1\r\n\r\nhello";

struct Fixture {
  Http1Parser parser;
  VectorSink sink;
  void Req(std::string_view d, uint64_t ts, uint64_t size = 0) {
    parser.Feed(true, ts, Bytes(d), size ? size : d.size(), sink);
  }
  void Resp(std::string_view d, uint64_t ts, uint64_t size = 0) {
    parser.Feed(false, ts, Bytes(d), size ? size : d.size(), sink);
  }
};

TEST(Http1ParserTest, SimpleExchangeKeepsOnlyNeededFields) {
  Fixture f;
  f.Req(kReq, 100);
  f.Resp(kResp, 200);
  ASSERT_EQ(f.sink.records.size(), 1u);
  const RequestRecord& r = f.sink.records[0];
  EXPECT_TRUE(r.parsed_ok);
  EXPECT_EQ(r.protocol, Protocol::kHttp1);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/users/123");
  EXPECT_EQ(r.route, "/users/{id}");
  EXPECT_EQ(r.host, "api.example.com");
  EXPECT_EQ(r.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(r.tracestate, "congo=t61rcWkgMzE");
  EXPECT_EQ(r.version, "HTTP/1.1");
  EXPECT_EQ(r.status_code, 200);
  EXPECT_EQ(r.start_ns, 100u);
  EXPECT_EQ(r.end_ns, 200u);
  EXPECT_EQ(r.request_bytes, kReq.size());
  EXPECT_EQ(r.response_bytes, kResp.size());
  EXPECT_EQ(f.parser.counters().http1_requests, 1u);
  EXPECT_EQ(f.parser.counters().http1_unparsed, 0u);
  // Credentials, cookies, query strings and bodies are never kept.
  for (const std::string* s :
       {&r.method, &r.path, &r.route, &r.host, &r.traceparent, &r.tracestate, &r.version}) {
    EXPECT_EQ(s->find("Bearer"), std::string::npos);
    EXPECT_EQ(s->find("a=b"), std::string::npos);
    EXPECT_EQ(s->find("s=1"), std::string::npos);
    EXPECT_EQ(s->find("secret"), std::string::npos);
    EXPECT_EQ(s->find("hello"), std::string::npos);
  }
}

// Every split point of request and response must give the same record.
TEST(Http1ParserTest, SplitAtEveryBytePosition) {
  const std::string req =
      std::string(kReq.substr(0, kReq.size() - 2)) + "Content-Length: 4\r\n\r\nbody";
  for (size_t i = 0; i <= req.size(); ++i) {
    for (size_t j = 0; j <= kResp.size(); j += 3) {
      Fixture f;
      if (i > 0) f.Req(std::string_view(req).substr(0, i), 10);
      if (i < req.size()) f.Req(std::string_view(req).substr(i), 11);
      if (j > 0) f.Resp(kResp.substr(0, j), 20);
      if (j < kResp.size()) f.Resp(kResp.substr(j), 21);
      ASSERT_EQ(f.sink.records.size(), 1u) << i << " " << j;
      const RequestRecord& r = f.sink.records[0];
      EXPECT_TRUE(r.parsed_ok);
      EXPECT_EQ(r.path, "/users/123");
      EXPECT_EQ(r.status_code, 200);
      EXPECT_EQ(r.request_bytes, req.size());
      EXPECT_EQ(r.response_bytes, kResp.size());
      EXPECT_EQ(r.start_ns, i > 0 ? 10u : 11u);
      EXPECT_EQ(r.end_ns, j < kResp.size() ? 21u : 20u);
      EXPECT_EQ(f.parser.counters().http1_unparsed, 0u);
    }
  }
}

TEST(Http1ParserTest, ByteAtATime) {
  Fixture f;
  for (char c : kReq) f.Req(std::string_view(&c, 1), 1);
  for (char c : kResp) f.Resp(std::string_view(&c, 1), 2);
  ASSERT_EQ(f.sink.records.size(), 1u);
  EXPECT_TRUE(f.sink.records[0].parsed_ok);
  EXPECT_EQ(f.sink.records[0].status_code, 200);
}

TEST(Http1ParserTest, PipelinedAndMergedMessages) {
  Fixture f;
  std::string reqs;
  for (int i = 0; i < 3; ++i) {
    reqs += "GET /item/" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n";
  }
  f.Req(reqs, 1);
  std::string resps =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
      "HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad";
  f.Resp(resps, 2);
  ASSERT_EQ(f.sink.records.size(), 3u);
  EXPECT_EQ(f.sink.records[0].path, "/item/0");
  EXPECT_EQ(f.sink.records[0].status_code, 200);
  EXPECT_EQ(f.sink.records[1].path, "/item/1");
  EXPECT_EQ(f.sink.records[1].status_code, 404);
  EXPECT_EQ(f.sink.records[2].path, "/item/2");
  EXPECT_EQ(f.sink.records[2].status_code, 500);
  EXPECT_EQ(f.parser.counters().http1_unparsed, 0u);
}

TEST(Http1ParserTest, KeepAliveManyExchanges) {
  Fixture f;
  for (int i = 0; i < 100; ++i) {
    f.Req("POST /api/v1/orders HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", i * 10);
    f.Resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", i * 10 + 5);
  }
  ASSERT_EQ(f.sink.records.size(), 100u);
  EXPECT_EQ(f.sink.records[99].start_ns, 990u);
  EXPECT_EQ(f.sink.records[99].end_ns, 995u);
  EXPECT_EQ(f.sink.records[99].status_code, 201);
}

TEST(Http1ParserTest, ChunkedWithExtensionsAndTrailers) {
  const std::string resp =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "A\r\n0123456789\r\n"
      "0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
  const std::string req =
      "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  for (size_t i = 0; i <= resp.size(); ++i) {
    Fixture f;
    f.Req(req, 1);
    if (i > 0) f.Resp(std::string_view(resp).substr(0, i), 2);
    if (i < resp.size()) f.Resp(std::string_view(resp).substr(i), 3);
    ASSERT_EQ(f.sink.records.size(), 1u) << i;
    EXPECT_TRUE(f.sink.records[0].parsed_ok);
    EXPECT_EQ(f.sink.records[0].request_bytes, req.size());
    EXPECT_EQ(f.sink.records[0].response_bytes, resp.size());
  }
  // And a follow-up exchange on the same connection still parses.
  Fixture f;
  f.Req(req, 1);
  f.Resp(resp, 2);
  f.Req("GET /next HTTP/1.1\r\n\r\n", 3);
  f.Resp("HTTP/1.1 204 No Content\r\n\r\n", 4);
  ASSERT_EQ(f.sink.records.size(), 2u);
  EXPECT_EQ(f.sink.records[1].path, "/next");
  EXPECT_EQ(f.sink.records[1].status_code, 204);
}

TEST(Http1ParserTest, HeadAnd204And304HaveNoBody) {
  Fixture f;
  f.Req("HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n", 1);
  // Content-Length on HEAD/304 describes the representation, not a body on the wire.
  f.Resp(
      "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
      2);
  ASSERT_EQ(f.sink.records.size(), 3u);
  EXPECT_EQ(f.sink.records[0].method, "HEAD");
  EXPECT_EQ(f.sink.records[0].status_code, 200);
  EXPECT_EQ(f.sink.records[1].status_code, 204);
  EXPECT_EQ(f.sink.records[2].status_code, 304);
  for (const auto& r : f.sink.records) EXPECT_TRUE(r.parsed_ok);
  EXPECT_EQ(f.parser.counters().http1_unparsed, 0u);
}

TEST(Http1ParserTest, HundredContinue) {
  Fixture f;
  f.Req("PUT /files/report HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", 1);
  f.Resp("HTTP/1.1 100 Continue\r\n\r\n", 2);
  f.Req("data", 3);
  f.Resp("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 4);
  ASSERT_EQ(f.sink.records.size(), 1u);
  EXPECT_EQ(f.parser.counters().http1_unparsed, 0u);
  EXPECT_EQ(f.parser.counters().http1_requests, 1u);
  const RequestRecord& r = f.sink.records[0];
  EXPECT_TRUE(r.parsed_ok);
  EXPECT_EQ(r.status_code, 201);
  EXPECT_EQ(r.start_ns, 1u);
  EXPECT_EQ(r.end_ns, 4u);
  EXPECT_EQ(r.response_bytes, std::string_view("HTTP/1.1 100 Continue\r\n\r\n").size() +
                                  std::string_view("HTTP/1.1 201 Created\r\nContent-Length: "
                                                   "0\r\n\r\n")
                                      .size());
}

TEST(Http1ParserTest, TruncatedCaptureSkipsBodyByTrueSize) {
  Fixture f;
  const std::string head = "POST /big HTTP/1.1\r\nContent-Length: 100000\r\n\r\n";
  const std::string captured = head + std::string(16384 - head.size(), 'x');
  f.Req(captured, 1, head.size() + 100000);  // one big write, only 16 KiB captured
  f.Req("GET /after HTTP/1.1\r\n\r\n", 2);
  const std::string rhead = "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n";
  f.Resp(rhead + std::string(100, 'y'), 3, rhead.size() + 30000);
  f.Resp(std::string(100, 'y'), 4, 20000);  // rest of the body, mostly uncaptured
  f.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5);
  ASSERT_EQ(f.sink.records.size(), 2u);
  EXPECT_TRUE(f.sink.records[0].parsed_ok);
  EXPECT_EQ(f.sink.records[0].request_bytes, head.size() + 100000);
  EXPECT_EQ(f.sink.records[0].response_bytes, rhead.size() + 50000);
  EXPECT_EQ(f.sink.records[0].end_ns, 4u);
  EXPECT_EQ(f.sink.records[1].path, "/after");
  EXPECT_TRUE(f.sink.records[1].parsed_ok);
}

TEST(Http1ParserTest, TruncatedHeadersCountUnparsedAndResync) {
  Fixture f;
  // The header block itself is cut by the capture: framing is unknown.
  const std::string req = "GET /x HTTP/1.1\r\nHost: a\r\n";
  f.Req(req, 1, req.size() + 5000);
  f.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
  // Its response pairs with a placeholder: one unparsed record, not a wrong one.
  ASSERT_EQ(f.sink.records.size(), 1u);
  EXPECT_FALSE(f.sink.records[0].parsed_ok);
  EXPECT_EQ(f.sink.records[0].start_ns, 1u);
  EXPECT_EQ(f.parser.counters().http1_unparsed, 1u);
  // A new request at a read boundary is picked up again.
  f.Req("GET /y HTTP/1.1\r\n\r\n", 3);
  f.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4);
  ASSERT_EQ(f.sink.records.size(), 2u);
  EXPECT_EQ(f.sink.records[1].path, "/y");
  EXPECT_TRUE(f.sink.records[1].parsed_ok);
}

TEST(Http1ParserTest, MalformedInputNeverCrashesAndCounts) {
  const std::string_view bad[] = {
      "GET\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET / HTTP/1.1\r\nNoColonHere\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (std::string_view b : bad) {
    Fixture f;
    f.Req(b, 1);
    f.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
    for (const auto& r : f.sink.records) EXPECT_FALSE(r.parsed_ok) << b;
    EXPECT_GE(f.parser.counters().http1_unparsed, 1u) << b;
  }
  Fixture f;
  f.Req(kReq, 1);
  f.Resp("HTTP/1.1 2x0 OK\r\n\r\n", 2);
  EXPECT_EQ(f.sink.records.size(), 0u);
  EXPECT_GE(f.parser.counters().http1_unparsed, 1u);
}

TEST(Http1ParserTest, HeaderBytesAreBounded) {
  Http1Parser::Options o;
  o.max_header_bytes = 1024;
  Http1Parser p(o);
  VectorSink sink;
  const std::string start = "GET / HTTP/1.1\r\n";
  p.Feed(true, 1, Bytes(start), start.size(), sink);
  const std::string filler = "X-Filler: " + std::string(100, 'a') + "\r\n";
  for (int i = 0; i < 100; ++i) p.Feed(true, 1, Bytes(filler), filler.size(), sink);
  const std::string resp = "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n";
  p.Feed(false, 2, Bytes(resp), resp.size(), sink);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_FALSE(sink.records[0].parsed_ok);
  EXPECT_EQ(p.counters().http1_unparsed, 1u);
}

TEST(Http1ParserTest, ResponseUntilCloseCompletesOnClose) {
  Fixture f;
  f.Req("GET /stream HTTP/1.0\r\n\r\n", 1);
  f.Resp("HTTP/1.0 200 OK\r\n\r\npart1", 2);
  f.Resp("part2", 3);
  EXPECT_EQ(f.sink.records.size(), 0u);
  f.parser.Close(9, f.sink);
  ASSERT_EQ(f.sink.records.size(), 1u);
  EXPECT_EQ(f.sink.records[0].end_ns, 3u);
  EXPECT_EQ(f.sink.records[0].version, "HTTP/1.0");
}

TEST(Http1ParserTest, SwitchingProtocolsStopsParsing) {
  Fixture f;
  f.Req("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 1);
  f.Resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello", 2);
  f.Req("\x81\x85garbage", 3);
  ASSERT_EQ(f.sink.records.size(), 1u);
  EXPECT_EQ(f.sink.records[0].status_code, 101);
  EXPECT_TRUE(f.parser.upgraded());
}

TEST(Http1ParserTest, AbsoluteFormTarget) {
  Fixture f;
  f.Req("GET http://proxy.example:8080/a/b?c=d HTTP/1.1\r\n\r\n", 1);
  f.Resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2);
  ASSERT_EQ(f.sink.records.size(), 1u);
  EXPECT_EQ(f.sink.records[0].path, "/a/b");
  EXPECT_EQ(f.sink.records[0].host, "proxy.example:8080");
}

TEST(Http1ParserTest, Inference) {
  EXPECT_TRUE(LooksLikeHttp1Request("GET / HTTP/1.1\r\n"));
  EXPECT_TRUE(LooksLikeHttp1Request("DELETE /x"));
  EXPECT_FALSE(LooksLikeHttp1Request("GETX / HTTP/1.1"));
  EXPECT_FALSE(LooksLikeHttp1Request("PRI * HTTP/2.0"));
  EXPECT_TRUE(LooksLikeHttp1Response("HTTP/1.1 200 OK\r\n"));
  EXPECT_FALSE(LooksLikeHttp1Response("HTTP/2 200"));
}

// More pipelined requests than the queue holds: the responses of the dropped ones are consumed
// unpaired, so every later response still pairs with its own request.
TEST(Http1ParserTest, PipelineOverflowKeepsLaterResponsesPaired) {
  Http1Parser::Options options;
  options.max_pending = 4;
  Http1Parser parser(options);
  VectorSink sink;
  auto req = [&](int i, uint64_t ts) {
    const std::string r = "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: h\r\n\r\n";
    parser.Feed(true, ts, Bytes(r), r.size(), sink);
  };
  auto resp = [&](int status, uint64_t ts) {
    const std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
    parser.Feed(false, ts, Bytes(r), r.size(), sink);
  };
  for (int i = 1; i <= 6; ++i) req(i, 10 * i);  // r5 and r6 do not fit
  for (int i = 1; i <= 6; ++i) resp(200 + i, 100 + i);
  req(7, 200);
  resp(299, 210);
  ASSERT_EQ(sink.records.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(sink.records[i].path, "/r" + std::to_string(i + 1));
    EXPECT_EQ(sink.records[i].status_code, 201 + i);
  }
  EXPECT_EQ(sink.records[4].path, "/r7");
  EXPECT_EQ(sink.records[4].status_code, 299);
  EXPECT_EQ(parser.counters().dropped_pending, 2u);
  EXPECT_EQ(parser.counters().http1_unparsed, 2u);
}

}  // namespace
}  // namespace zerotrace::protocols
