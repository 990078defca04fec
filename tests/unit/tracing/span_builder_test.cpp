#include "spans/span_builder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace zerotrace::tracing {
namespace {

using protocols::Protocol;
using protocols::RequestRecord;
using protocols::Role;

constexpr int64_t kUnixOffset = 1'700'000'000'000'000'000LL;  // fake REALTIME - MONOTONIC

ClockSource FakeClock() {
  return ClockSource{[] { return kUnixOffset + 5; }, [] { return int64_t{5}; }};
}

struct Harness {
  explicit Harness(SpanBuilderOptions options = {})
      : builder(
            nullptr, [this](Span s) { spans.push_back(std::move(s)); }, Options(options), nullptr,
            FakeClock(), std::make_unique<IdGenerator>(42)) {}
  static SpanBuilderOptions Options(SpanBuilderOptions o) {
    o.host_name = "test-host";
    return o;
  }
  // The spans built so far, those held for a late client included (the events are over).
  std::vector<Span>& Spans() {
    builder.FlushDeferred();
    return spans;
  }
  const Span* Named(const std::string& name, SpanKind kind) {
    for (const auto& s : Spans()) {
      if (s.name == name && s.kind == kind) return &s;
    }
    return nullptr;
  }
  std::vector<Span> spans;
  SpanBuilder builder;
};

ConnMeta Conn(uint32_t tgid, uint32_t tid, const std::string& service, const std::string& laddr,
              uint16_t lport, const std::string& raddr, uint16_t rport) {
  ConnMeta m;
  m.tgid = tgid;
  m.tid = tid;
  m.service = service;
  m.local_addr = laddr;
  m.local_port = lport;
  m.remote_addr = raddr;
  m.remote_port = rport;
  return m;
}

RequestRecord Http(Role role, const std::string& method, const std::string& path,
                   const std::string& route, int status, uint64_t start, uint64_t end) {
  RequestRecord r;
  r.protocol = Protocol::kHttp1;
  r.role = role;
  r.parsed_ok = true;
  r.method = method;
  r.path = path;
  r.route = route;
  r.version = "HTTP/1.1";
  r.status_code = status;
  r.start_ns = start;
  r.end_ns = end;
  return r;
}

RequestStart Start(Role role, uint64_t ts, std::string_view traceparent = {}) {
  RequestStart s;
  s.protocol = Protocol::kHttp1;
  s.role = role;
  s.start_ns = ts;
  s.traceparent = traceparent;
  return s;
}

template <typename T>
T Attr(const Span& s, std::string_view key) {
  const AttributeValue* v = s.attributes.Find(key);
  if (v == nullptr || !std::holds_alternative<T>(*v)) {
    ADD_FAILURE() << "attribute " << key << " missing or of another type on " << s.name;
    return T{};
  }
  return std::get<T>(*v);
}

bool Has(const Span& s, std::string_view key) { return s.attributes.Find(key) != nullptr; }

TEST(SpanBuilderTest, ServerSpanAttributesNameStatusAndTimes) {
  Harness h;
  auto conn = Conn(10, 11, "users-api", "10.0.0.1", 8080, "10.0.0.2", 40000);
  conn.k8s = {{"k8s_namespace_name", "shop"}, {"k8s_pod_name", "users-api-7d9f"}};
  auto r = Http(Role::kServer, "GET", "/users/123", "/users/{id}", 200, 1'000, 3'000);
  r.host = "api.example.com:8080";
  h.builder.OnRequest(r, conn);
  ASSERT_EQ(h.Spans().size(), 1u);
  const Span& s = h.Spans()[0];
  EXPECT_EQ(s.name, "GET /users/{id}");
  EXPECT_EQ(s.kind, SpanKind::kServer);
  EXPECT_TRUE(IsValid(s.trace_id));
  EXPECT_TRUE(IsValid(s.span_id));
  EXPECT_FALSE(s.parent_span_id.has_value());
  EXPECT_EQ(s.start_unix_ns, static_cast<uint64_t>(kUnixOffset) + 1'000);
  EXPECT_EQ(s.end_unix_ns, static_cast<uint64_t>(kUnixOffset) + 3'000);
  EXPECT_EQ(s.status.code, StatusCode::kUnset);
  EXPECT_EQ(Attr<std::string>(s, "http.request.method"), "GET");
  EXPECT_EQ(Attr<std::string>(s, "url.path"), "/users/123");
  EXPECT_EQ(Attr<std::string>(s, "http.route"), "/users/{id}");
  EXPECT_EQ(Attr<int64_t>(s, "http.response.status_code"), 200);
  EXPECT_EQ(Attr<std::string>(s, "server.address"), "api.example.com");
  EXPECT_EQ(Attr<int64_t>(s, "server.port"), 8080);
  EXPECT_EQ(Attr<std::string>(s, "client.address"), "10.0.0.2");
  EXPECT_EQ(Attr<std::string>(s, "network.protocol.version"), "1.1");
  ASSERT_NE(s.resource, nullptr);
  EXPECT_EQ(*s.resource->attributes.Find("service.name"), AttributeValue(std::string("users-api")));
  EXPECT_EQ(*s.resource->attributes.Find("host.name"), AttributeValue(std::string("test-host")));
  EXPECT_EQ(*s.resource->attributes.Find("process.pid"), AttributeValue(int64_t{10}));
  EXPECT_EQ(*s.resource->attributes.Find("k8s.namespace.name"),
            AttributeValue(std::string("shop")));
  EXPECT_EQ(*s.resource->attributes.Find("k8s.pod.name"),
            AttributeValue(std::string("users-api-7d9f")));
}

TEST(SpanBuilderTest, StatusMappingServerAndClient) {
  Harness h;
  // A remote peer: its server spans are built at once, in order (none waits for a client).
  auto server = Conn(1, 1, "s", "10.0.0.1", 80, "10.0.0.2", 5000);
  auto client = Conn(2, 2, "c", "127.0.0.1", 5001, "127.0.0.1", 80);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/a", "/a", 404, 1, 2), server);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/b", "/b", 503, 3, 4), server);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/c", "/c", 404, 5, 6), client);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/d", "/d", 200, 7, 8), client);
  ASSERT_EQ(h.Spans().size(), 4u);
  EXPECT_EQ(h.Spans()[0].status.code, StatusCode::kUnset);  // 4xx: the client's fault
  EXPECT_EQ(h.Spans()[1].status.code, StatusCode::kError);
  EXPECT_EQ(Attr<std::string>(h.Spans()[1], "error.type"), "503");
  EXPECT_EQ(h.Spans()[2].status.code, StatusCode::kError);  // 4xx is an error for the client
  EXPECT_EQ(h.Spans()[2].kind, SpanKind::kClient);
  EXPECT_EQ(h.Spans()[3].status.code, StatusCode::kUnset);
  EXPECT_FALSE(Has(h.Spans()[3], "error.type"));
  // Client: server.* is the peer.
  EXPECT_EQ(Attr<std::string>(h.Spans()[3], "server.address"), "127.0.0.1");
  EXPECT_EQ(Attr<int64_t>(h.Spans()[3], "server.port"), 80);
  EXPECT_FALSE(Has(h.Spans()[3], "client.address"));
}

TEST(SpanBuilderTest, GrpcNamesAttributesAndStatus) {
  Harness h;
  auto server = Conn(1, 1, "g", "::ffff:127.0.0.1", 50051, "::ffff:127.0.0.1", 6000);
  auto client = Conn(2, 2, "c", "127.0.0.1", 6000, "127.0.0.1", 50051);
  auto grpc = [](Role role, int status) {
    RequestRecord r;
    r.protocol = Protocol::kGrpc;
    r.role = role;
    r.parsed_ok = true;
    r.method = "POST";
    r.path = "/helloworld.Greeter/SayHello";
    r.version = "HTTP/2";
    r.rpc_service = "helloworld.Greeter";
    r.rpc_method = "SayHello";
    r.grpc_status = status;
    r.start_ns = 10;
    r.end_ns = 20;
    return r;
  };
  h.builder.OnRequest(grpc(Role::kServer, 0), server);
  h.builder.OnRequest(grpc(Role::kServer, 5), server);   // NOT_FOUND: not a server error
  h.builder.OnRequest(grpc(Role::kServer, 13), server);  // INTERNAL
  h.builder.OnRequest(grpc(Role::kClient, 5), client);   // any non-OK is a client error
  h.builder.OnRequest(grpc(Role::kClient, 42), client);  // outside the protocol's 17 codes
  ASSERT_EQ(h.Spans().size(), 5u);
  const Span& ok = h.Spans()[0];
  EXPECT_EQ(ok.name, "helloworld.Greeter/SayHello");
  EXPECT_EQ(Attr<std::string>(ok, "rpc.system"), "grpc");
  EXPECT_EQ(Attr<std::string>(ok, "rpc.service"), "helloworld.Greeter");
  EXPECT_EQ(Attr<std::string>(ok, "rpc.method"), "SayHello");
  EXPECT_EQ(Attr<int64_t>(ok, "rpc.grpc.status_code"), 0);
  EXPECT_EQ(Attr<std::string>(ok, "network.protocol.version"), "2");
  EXPECT_EQ(Attr<std::string>(ok, "client.address"), "127.0.0.1");  // v4-mapped unwrapped
  EXPECT_FALSE(Has(ok, "http.request.method"));
  EXPECT_EQ(ok.status.code, StatusCode::kUnset);
  EXPECT_EQ(h.Spans()[1].status.code, StatusCode::kUnset);
  EXPECT_EQ(h.Spans()[2].status.code, StatusCode::kError);
  EXPECT_EQ(Attr<std::string>(h.Spans()[2], "error.type"), "INTERNAL");
  EXPECT_EQ(h.Spans()[3].status.code, StatusCode::kError);
  EXPECT_EQ(Attr<std::string>(h.Spans()[3], "error.type"), "NOT_FOUND");
  // Named by its number, not as UNKNOWN (2): the same name protocols::GrpcStatusName gives.
  EXPECT_EQ(Attr<std::string>(h.Spans()[4], "error.type"), "42");
}

TEST(SpanBuilderTest, NeverExportsQueryStringsOrUserinfo) {
  Harness h;
  auto conn = Conn(1, 1, "s", "127.0.0.1", 80, "127.0.0.1", 5000);
  // The parsers strip query strings already; the builder does not trust that.
  auto r =
      Http(Role::kServer, "GET", "/login?password=hunter2", "/login?password=hunter2", 200, 1, 2);
  r.host = "user:secret@example.com";
  h.builder.OnRequest(r, conn);
  ASSERT_EQ(h.Spans().size(), 1u);
  const Span& s = h.Spans()[0];
  EXPECT_EQ(Attr<std::string>(s, "url.path"), "/login");
  EXPECT_EQ(Attr<std::string>(s, "http.route"), "/login");
  EXPECT_EQ(s.name, "GET /login");
  EXPECT_EQ(Attr<std::string>(s, "server.address"), "example.com");
  for (const auto& a : s.attributes.items()) {
    EXPECT_EQ(a.key.find("authorization"), std::string::npos);
    EXPECT_EQ(a.key.find("cookie"), std::string::npos);
    if (const auto* v = std::get_if<std::string>(&a.value)) {
      EXPECT_EQ(v->find("hunter2"), std::string::npos) << a.key;
      EXPECT_EQ(v->find("secret"), std::string::npos) << a.key;
    }
  }
}

TEST(SpanBuilderTest, UnknownMethodIsOther) {
  Harness h;
  h.builder.OnRequest(Http(Role::kServer, "PURGE", "/x", "/x", 200, 1, 2),
                      Conn(1, 1, "s", "127.0.0.1", 80, "127.0.0.1", 5000));
  ASSERT_EQ(h.Spans().size(), 1u);
  EXPECT_EQ(h.Spans()[0].name, "HTTP /x");
  EXPECT_EQ(Attr<std::string>(h.Spans()[0], "http.request.method"), "_OTHER");
  EXPECT_EQ(Attr<std::string>(h.Spans()[0], "http.request.method_original"), "PURGE");
}

// One list of HTTP methods for metrics and spans (protocols::IsKnownHttpMethod): QUERY (the
// IETF safe-method-with-body draft) is a method on both, not `_OTHER` on spans alone.
TEST(SpanBuilderTest, MethodsAreTheMetricsOnes) {
  Harness h;
  h.builder.OnRequest(Http(Role::kServer, "QUERY", "/q", "/q", 200, 1, 2),
                      Conn(1, 1, "s", "127.0.0.1", 80, "127.0.0.1", 5000));
  ASSERT_EQ(h.Spans().size(), 1u);
  EXPECT_EQ(Attr<std::string>(h.Spans()[0], "http.request.method"), "QUERY");
  EXPECT_FALSE(Has(h.Spans()[0], "http.request.method_original"));
}

TEST(SpanBuilderTest, IncomingTraceparentIsHonoured) {
  Harness h;
  auto conn = Conn(1, 1, "s", "127.0.0.1", 80, "127.0.0.1", 5000);
  auto r = Http(Role::kServer, "GET", "/a", "/a", 200, 1, 2);
  r.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  r.tracestate = "congo=t61rcWkgMzE";
  h.builder.OnRequest(r, conn);  // no start seen: ids made at completion
  ASSERT_EQ(h.Spans().size(), 1u);
  EXPECT_EQ(ToHex(h.Spans()[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  ASSERT_TRUE(h.Spans()[0].parent_span_id.has_value());
  EXPECT_EQ(ToHex(*h.Spans()[0].parent_span_id), "00f067aa0ba902b7");
  EXPECT_NE(ToHex(h.Spans()[0].span_id), "00f067aa0ba902b7");
  EXPECT_EQ(h.Spans()[0].trace_state, "congo=t61rcWkgMzE");
  EXPECT_EQ(h.builder.counters().without_start, 1u);

  // An invalid header starts a new trace.
  r.traceparent = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
  h.builder.OnRequest(r, conn);
  ASSERT_EQ(h.Spans().size(), 2u);
  EXPECT_FALSE(h.Spans()[1].parent_span_id.has_value());
  EXPECT_TRUE(IsValid(h.Spans()[1].trace_id));
}

// front (pid 100) serves GET /api on thread 101 and, on that thread, calls back (pid 200) on
// 127.0.0.1:9000. Completion order is back, client, front: the reverse of parenthood.
struct Chain {
  ConnMeta front_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50000);
  ConnMeta front_out = Conn(100, 101, "front", "127.0.0.1", 50001, "127.0.0.1", 9000);
  ConnMeta back_in = Conn(200, 201, "back", "127.0.0.1", 9000, "127.0.0.1", 50001);
  RequestRecord front = Http(Role::kServer, "GET", "/api", "/api", 200, 1'000, 9'000);
  RequestRecord client = Http(Role::kClient, "GET", "/data", "/data", 200, 2'000, 8'000);
  RequestRecord back = Http(Role::kServer, "GET", "/data", "/data", 200, 3'000, 7'000);

  void Run(SpanBuilder& b, std::string_view front_traceparent = {},
           std::string_view client_traceparent = {}) {
    b.OnRequestStart(Start(Role::kServer, front.start_ns, front_traceparent), front_in);
    b.OnRequestStart(Start(Role::kClient, client.start_ns, client_traceparent), front_out);
    b.OnRequestStart(Start(Role::kServer, back.start_ns), back_in);
    b.OnRequest(back, back_in);
    b.OnRequest(client, front_out);
    b.OnRequest(front, front_in);
  }
};

TEST(SpanBuilderTest, ClientOfServingThreadAndMirroredServerFormOneTrace) {
  Harness h;
  Chain c;
  c.Run(h.builder);
  ASSERT_EQ(h.Spans().size(), 3u);
  const Span* front = h.Named("GET /api", SpanKind::kServer);
  const Span* client = h.Named("GET /data", SpanKind::kClient);
  const Span* back = h.Named("GET /data", SpanKind::kServer);
  ASSERT_TRUE(front && client && back);
  EXPECT_FALSE(front->parent_span_id.has_value());
  EXPECT_EQ(client->trace_id, front->trace_id);
  EXPECT_EQ(back->trace_id, front->trace_id);
  ASSERT_TRUE(client->parent_span_id.has_value());
  EXPECT_EQ(*client->parent_span_id, front->span_id);
  ASSERT_TRUE(back->parent_span_id.has_value());
  EXPECT_EQ(*back->parent_span_id, client->span_id);
  EXPECT_EQ(h.builder.open_requests(), 0u);
  EXPECT_EQ(h.builder.counters().without_start, 0u);
  EXPECT_EQ(*back->resource->attributes.Find("service.name"), AttributeValue(std::string("back")));
}

TEST(SpanBuilderTest, ServerSeenStartingBeforeItsClientIsRelinked) {
  // Syscall-exit timestamps race across CPUs: the back server's read can be reported before
  // the front client's write that it returned.
  Harness h;
  Chain c;
  c.back.start_ns = c.client.start_ns - 5;
  h.builder.OnRequestStart(Start(Role::kServer, c.front.start_ns), c.front_in);
  h.builder.OnRequestStart(Start(Role::kServer, c.back.start_ns), c.back_in);
  h.builder.OnRequestStart(Start(Role::kClient, c.client.start_ns), c.front_out);
  h.builder.OnRequest(c.back, c.back_in);
  h.builder.OnRequest(c.client, c.front_out);
  h.builder.OnRequest(c.front, c.front_in);
  const Span* front = h.Named("GET /api", SpanKind::kServer);
  const Span* client = h.Named("GET /data", SpanKind::kClient);
  const Span* back = h.Named("GET /data", SpanKind::kServer);
  ASSERT_TRUE(front && client && back);
  EXPECT_EQ(back->trace_id, front->trace_id);
  ASSERT_TRUE(back->parent_span_id.has_value());
  EXPECT_EQ(*back->parent_span_id, client->span_id);
  EXPECT_EQ(*client->parent_span_id, front->span_id);
  EXPECT_EQ(h.builder.counters().relinked, 1u);
}

TEST(SpanBuilderTest, ServerCompletedBeforeItsClientStartIsRelinked) {
  // The front's thread was preempted between copying its request and its write's exit for
  // longer than the back server took to answer: the whole back request is reported before the
  // client's start. The back span waits (in event time) for its client and joins its trace.
  Harness h;
  Chain c;
  c.back.start_ns = c.client.start_ns + 100;
  c.back.end_ns = c.client.start_ns + 200;
  c.client.start_ns += 1'000;  // the write's exit, after the back's response
  h.builder.OnRequestStart(Start(Role::kServer, c.front.start_ns), c.front_in);
  h.builder.OnRequestStart(Start(Role::kServer, c.back.start_ns), c.back_in);
  h.builder.OnRequest(c.back, c.back_in);
  EXPECT_EQ(h.spans.size(), 0u);  // held for its client
  h.builder.OnRequestStart(Start(Role::kClient, c.client.start_ns), c.front_out);
  ASSERT_EQ(h.spans.size(), 1u);
  h.builder.OnRequest(c.client, c.front_out);
  h.builder.OnRequest(c.front, c.front_in);
  const Span* front = h.Named("GET /api", SpanKind::kServer);
  const Span* client = h.Named("GET /data", SpanKind::kClient);
  const Span* back = h.Named("GET /data", SpanKind::kServer);
  ASSERT_TRUE(front && client && back);
  EXPECT_EQ(back->trace_id, front->trace_id);
  ASSERT_TRUE(back->parent_span_id.has_value());
  EXPECT_EQ(*back->parent_span_id, client->span_id);
  EXPECT_EQ(*client->parent_span_id, front->span_id);
  EXPECT_EQ(h.builder.counters().late_relinked, 1u);
  EXPECT_EQ(h.builder.open_requests(), 0u);
}

TEST(SpanBuilderTest, HeldServerSpanLeavesAfterItsWindowWithoutAParent) {
  SpanBuilderOptions o;
  o.peer_race_window_ns = 1'000;
  o.deferred_idle_grace_ns = 500;
  Harness h(o);
  Chain c;
  h.builder.OnRequestStart(Start(Role::kServer, c.back.start_ns), c.back_in);
  h.builder.OnRequest(c.back, c.back_in);
  h.builder.Tick(c.back.end_ns + 1'400);  // window + grace not yet over
  EXPECT_EQ(h.spans.size(), 0u);
  h.builder.Tick(c.back.end_ns + 1'600);  // idle: built by the ticker
  ASSERT_EQ(h.spans.size(), 1u);
  EXPECT_FALSE(h.spans[0].parent_span_id.has_value());
  // A client start past the window does not adopt the next held span either: its events
  // move the wait along first (event time), so the server span leaves as it was.
  h.builder.OnRequestStart(Start(Role::kServer, 20'000), c.back_in);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/data", "/data", 200, 20'000, 21'000), c.back_in);
  h.builder.OnRequestStart(Start(Role::kClient, 23'000), c.front_out);
  ASSERT_EQ(h.spans.size(), 2u);
  EXPECT_FALSE(h.spans[1].parent_span_id.has_value());
  EXPECT_EQ(h.builder.counters().late_relinked, 0u);
}

TEST(SpanBuilderTest, HeldServerSpanWithChildrenKeepsItsTrace) {
  // The back server called out while serving (its client span took the back span's ids as
  // parent): moving it to another trace would orphan that child, so it stays a root.
  Harness h;
  Chain c;
  c.back.start_ns = c.client.start_ns + 100;
  c.back.end_ns = c.client.start_ns + 600;
  const ConnMeta back_out = Conn(200, 201, "back", "127.0.0.1", 50002, "10.1.1.1", 5432);
  auto call =
      Http(Role::kClient, "GET", "/db", "/db", 200, c.back.start_ns + 100, c.back.start_ns + 200);
  h.builder.OnRequestStart(Start(Role::kServer, c.back.start_ns), c.back_in);
  h.builder.OnRequest(call, back_out);
  h.builder.OnRequest(c.back, c.back_in);
  h.builder.OnRequestStart(Start(Role::kClient, c.back.end_ns + 50), c.front_out);
  const Span* back = h.Named("GET /data", SpanKind::kServer);
  const Span* db = h.Named("GET /db", SpanKind::kClient);
  ASSERT_TRUE(back && db);
  EXPECT_FALSE(back->parent_span_id.has_value());
  EXPECT_EQ(db->trace_id, back->trace_id);
  EXPECT_EQ(*db->parent_span_id, back->span_id);
  EXPECT_EQ(h.builder.counters().late_relinked, 0u);
}

TEST(SpanBuilderTest, Http2ServerSpanIsNeverHeldForAClientStream) {
  // Streams share a connection: the client stream reported next on the mirrored connection may
  // be another request's, so an HTTP/2 server span is built at once and adopts no late client.
  Harness h;
  Chain c;
  c.back.protocol = Protocol::kHttp2;
  c.client.protocol = Protocol::kHttp2;
  c.client.start_ns = c.back.end_ns + 50;
  h.builder.OnRequest(c.back, c.back_in);
  ASSERT_EQ(h.spans.size(), 1u);
  EXPECT_FALSE(h.spans[0].parent_span_id.has_value());
  h.builder.OnRequest(c.client, c.front_out);
  EXPECT_EQ(h.builder.counters().deferred, 0u);
  EXPECT_EQ(h.builder.counters().late_relinked, 0u);
}

TEST(SpanBuilderTest, ChainJoinsIncomingTrace) {
  Harness h;
  Chain c;
  c.Run(h.builder, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_EQ(h.Spans().size(), 3u);
  for (const auto& s : h.Spans()) EXPECT_EQ(ToHex(s.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  const Span* front = h.Named("GET /api", SpanKind::kServer);
  ASSERT_TRUE(front && front->parent_span_id);
  EXPECT_EQ(ToHex(*front->parent_span_id), "00f067aa0ba902b7");
}

TEST(SpanBuilderTest, ForwardedTraceparentKeepsThreadParent) {
  Harness h;
  Chain c;
  const char* tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  c.Run(h.builder, tp, tp);  // a proxy forwarding the inbound header unchanged
  const Span* front = h.Named("GET /api", SpanKind::kServer);
  const Span* client = h.Named("GET /data", SpanKind::kClient);
  const Span* back = h.Named("GET /data", SpanKind::kServer);
  ASSERT_TRUE(front && client && back);
  EXPECT_EQ(*client->parent_span_id, front->span_id);
  EXPECT_EQ(*back->parent_span_id, client->span_id);
}

TEST(SpanBuilderTest, ApplicationTraceparentOnClientIsHonoured) {
  Harness h;
  Chain c;
  // An instrumented front made its own span 1111111111111111 and propagates it.
  c.Run(h.builder, {}, "00-0af7651916cd43dd8448eb211c80319c-1111111111111111-01");
  const Span* client = h.Named("GET /data", SpanKind::kClient);
  const Span* back = h.Named("GET /data", SpanKind::kServer);
  ASSERT_TRUE(client && back);
  EXPECT_EQ(ToHex(client->trace_id), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(ToHex(*client->parent_span_id), "1111111111111111");
  // The back server saw the same connection: child of our client span, in that trace (its
  // bytes did not carry the header in this test; the trace comes from the mirrored client).
  EXPECT_EQ(back->trace_id, client->trace_id);
  EXPECT_EQ(*back->parent_span_id, client->span_id);
}

TEST(SpanBuilderTest, ClientOnAnotherThreadOrOutsideTheRequestIsARoot) {
  Harness h;
  auto front_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50000);
  auto other_thread = Conn(100, 102, "front", "127.0.0.1", 50002, "127.0.0.1", 9000);
  h.builder.OnRequestStart(Start(Role::kServer, 1'000), front_in);
  h.builder.OnRequestStart(Start(Role::kClient, 2'000), other_thread);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), other_thread);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/api", "/api", 200, 1'000, 4'000), front_in);
  // After the server request ended, on its thread.
  auto later = Conn(100, 101, "front", "127.0.0.1", 50003, "127.0.0.1", 9000);
  h.builder.OnRequestStart(Start(Role::kClient, 5'000), later);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/y", "/y", 200, 5'000, 6'000), later);
  ASSERT_EQ(h.Spans().size(), 3u);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  const Span* y = h.Named("GET /y", SpanKind::kClient);
  const Span* api = h.Named("GET /api", SpanKind::kServer);
  ASSERT_TRUE(x && y && api);
  EXPECT_FALSE(x->parent_span_id.has_value());
  EXPECT_NE(x->trace_id, api->trace_id);
  EXPECT_FALSE(y->parent_span_id.has_value());
}

TEST(SpanBuilderTest, ClientCompletedWithoutStartStillFindsServingThread) {
  Harness h;
  auto front_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50000);
  auto out = Conn(100, 101, "front", "127.0.0.1", 50001, "127.0.0.1", 9000);
  h.builder.OnRequestStart(Start(Role::kServer, 1'000), front_in);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), out);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/api", "/api", 200, 1'000, 4'000), front_in);
  ASSERT_EQ(h.Spans().size(), 2u);
  EXPECT_EQ(*h.Spans()[0].parent_span_id, h.Spans()[1].span_id);
  EXPECT_EQ(h.Spans()[0].trace_id, h.Spans()[1].trace_id);
}

TEST(SpanBuilderTest, SamplerDropsButKeepsErrors) {
  SpanBuilderOptions o;
  o.sampler.ratio = 0.0;
  o.sampler.keep_errors = true;
  Harness h(o);
  auto conn = Conn(1, 1, "s", "127.0.0.1", 80, "127.0.0.1", 5000);
  for (int i = 0; i < 10; ++i) {
    h.builder.OnRequest(Http(Role::kServer, "GET", "/ok", "/ok", 200, 10 * i, 10 * i + 5), conn);
  }
  h.builder.OnRequest(Http(Role::kServer, "GET", "/fail", "/fail", 500, 200, 205), conn);
  ASSERT_EQ(h.Spans().size(), 1u);
  EXPECT_EQ(h.Spans()[0].name, "GET /fail");
  EXPECT_EQ(h.builder.counters().sampled_out, 10u);
  EXPECT_EQ(h.builder.counters().server_spans, 11u);
}

TEST(SpanBuilderTest, UnmatchedStartsExpireAndAreBounded) {
  SpanBuilderOptions o;
  o.max_open_requests = 4;
  o.open_request_timeout_ns = 1'000'000;
  Harness h(o);
  for (uint16_t i = 0; i < 10; ++i) {
    h.builder.OnRequestStart(Start(Role::kClient, 100 + i),
                             Conn(1, 1, "c", "127.0.0.1", 40000 + i, "127.0.0.1", 80));
  }
  EXPECT_LE(h.builder.open_requests(), 4u);
  h.builder.Maintain(10'000'000);
  EXPECT_EQ(h.builder.open_requests(), 0u);
  EXPECT_EQ(h.builder.counters().open_dropped, 10u);
}

TEST(SpanBuilderTest, SkipsRecordsWithNothingToName) {
  Harness h;
  RequestRecord r;
  r.protocol = Protocol::kHttp1;
  r.role = Role::kServer;
  h.builder.OnRequest(r, Conn(1, 1, "s", "127.0.0.1", 80, "127.0.0.1", 5000));
  EXPECT_TRUE(h.Spans().empty());
  EXPECT_EQ(h.builder.counters().unparsed_skipped, 1u);
}

// A request announced at its start but completed unparsed (headers over the capture limit) makes
// no span, and must not stay open: its thread would parent later client calls to a span that is
// never exported.
std::string Text(const Span& s, std::string_view key) {
  const AttributeValue* v = s.attributes.Find(key);
  return v && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "";
}

// An event loop: two requests open on one thread. A call it makes then may belong to either,
// so it gets no parent (precision first), and both sides say why.
TEST(SpanBuilderTest, ThreadServingTwoRequestsAtOnceParentsNoCallAndSaysWhy) {
  Harness h;
  auto a_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50000);
  auto b_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50001);
  auto out = Conn(100, 101, "front", "127.0.0.1", 50002, "127.0.0.1", 9000);
  h.builder.OnRequestStart(Start(Role::kServer, 1'000), a_in);
  h.builder.OnRequestStart(Start(Role::kServer, 1'500), b_in);
  h.builder.OnRequestStart(Start(Role::kClient, 2'000), out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), out);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/a", "/a", 200, 1'000, 4'000), a_in);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/b", "/b", 200, 1'500, 4'500), b_in);
  ASSERT_EQ(h.Spans().size(), 3u);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  const Span* a = h.Named("GET /a", SpanKind::kServer);
  ASSERT_TRUE(x && a);
  EXPECT_FALSE(x->parent_span_id.has_value());
  EXPECT_EQ(Text(*x, "zerotrace.parent.not_inferred"), "thread_serves_concurrent_requests");
  EXPECT_EQ(Text(*a, "zerotrace.children.not_inferred"), "thread_serves_concurrent_requests");
  EXPECT_EQ(h.builder.counters().parents_not_inferred, 1u);
}

// Read on one thread, answered on another (goroutines, hand-offs): no thread of the process
// parents calls from then on, even one that serves a single request.
TEST(SpanBuilderTest, RequestsAnsweredOnAnotherThreadStopThreadParents) {
  Harness h;
  auto a_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50000);
  h.builder.OnRequestStart(Start(Role::kServer, 1'000), a_in);
  auto a_done = a_in;
  a_done.tid = 102;
  h.builder.OnRequest(Http(Role::kServer, "GET", "/a", "/a", 200, 1'000, 2'000), a_done);
  auto c_in = Conn(100, 103, "front", "127.0.0.1", 8000, "127.0.0.1", 50001);
  auto out = Conn(100, 103, "front", "127.0.0.1", 50002, "127.0.0.1", 9000);
  h.builder.OnRequestStart(Start(Role::kServer, 3'000), c_in);
  h.builder.OnRequestStart(Start(Role::kClient, 3'500), out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 3'500, 3'800), out);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  ASSERT_TRUE(x);
  EXPECT_FALSE(x->parent_span_id.has_value());
  EXPECT_EQ(Text(*x, "zerotrace.parent.not_inferred"), "requests_move_between_threads");
}

// traceparent propagation: the kernel gave the server request a trace id and inserted a
// traceparent in the thread's call. The spans carry exactly the ids that went on the wire.
TEST(SpanBuilderTest, InjectedCallInTheThreadsTraceIsTheServerSpansChild) {
  std::vector<std::pair<uint32_t, bool>> verdicts;
  SpanBuilderOptions o;
  o.thread_links_verdict = [&](uint32_t tgid, bool ok) { verdicts.emplace_back(tgid, ok); };
  Harness h(o);
  auto in = Conn(100, 101, "front", "10.0.0.1", 8000, "10.0.0.2", 50000);
  auto out = Conn(100, 101, "front", "10.0.0.1", 50002, "10.0.0.3", 9000);
  RequestStart server = Start(Role::kServer, 1'000);
  const TraceId kernel_trace = *TraceIdFromHex("4bf92f3577b34da6a3ce929d0e0e4736");
  server.kernel_trace_id = kernel_trace;
  h.builder.OnRequestStart(server, in);
  RequestStart call = Start(Role::kClient, 2'000);
  call.injected = RequestStart::Injected{true, 0x00f067aa0ba902b7ULL, 1'000};
  h.builder.OnRequestStart(call, out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), out);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/a", "/a", 200, 1'000, 4'000), in);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  const Span* a = h.Named("GET /a", SpanKind::kServer);
  ASSERT_TRUE(x && a);
  EXPECT_EQ(a->trace_id, kernel_trace);
  EXPECT_FALSE(a->parent_span_id.has_value());
  EXPECT_EQ(x->trace_id, kernel_trace);
  EXPECT_EQ(ToHex(x->span_id), "00f067aa0ba902b7");
  ASSERT_TRUE(x->parent_span_id.has_value());
  EXPECT_EQ(*x->parent_span_id, a->span_id);
  EXPECT_EQ(h.builder.counters().propagated_thread, 1u);
  ASSERT_EQ(verdicts.size(), 1u);  // told once, when the process began serving
  EXPECT_EQ(verdicts[0], std::make_pair(100u, true));
}

// A local client that sent no traceparent (outside the propagation's cgroup, or a connection
// older than the collector) calls a server whose kernel trace its thread's calls already carry:
// the root client span joins that trace, so the whole chain is one trace.
TEST(SpanBuilderTest, UninjectedLocalRootClientJoinsTheServersKernelTrace) {
  Harness h;
  auto client = Conn(200, 201, "driver", "127.0.0.1", 41000, "127.0.0.1", 8000);
  auto in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 41000);
  auto out = Conn(100, 101, "front", "10.0.0.1", 50002, "10.0.0.3", 9000);
  h.builder.OnRequestStart(Start(Role::kClient, 900), client);
  RequestStart server = Start(Role::kServer, 1'000);
  const TraceId kernel_trace = *TraceIdFromHex("4bf92f3577b34da6a3ce929d0e0e4736");
  server.kernel_trace_id = kernel_trace;
  h.builder.OnRequestStart(server, in);
  RequestStart call = Start(Role::kClient, 2'000);
  call.injected = RequestStart::Injected{true, 0x00f067aa0ba902b7ULL, 1'000};
  h.builder.OnRequestStart(call, out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), out);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/a", "/a", 200, 1'000, 4'000), in);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/a", "/a", 200, 900, 4'100), client);
  const Span* d = h.Named("GET /a", SpanKind::kClient);
  const Span* a = h.Named("GET /a", SpanKind::kServer);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  ASSERT_TRUE(d && a && x);
  EXPECT_EQ(d->trace_id, kernel_trace);
  EXPECT_EQ(a->trace_id, kernel_trace);
  ASSERT_TRUE(a->parent_span_id.has_value());
  EXPECT_EQ(*a->parent_span_id, d->span_id);
  ASSERT_TRUE(x->parent_span_id.has_value());
  EXPECT_EQ(*x->parent_span_id, a->span_id);
  EXPECT_EQ(x->trace_id, kernel_trace);
}

// A new trace on the wire (the kernel could not name the request): the client span is that
// trace's root, and says why it has no parent although its thread serves a request.
TEST(SpanBuilderTest, InjectedCallInANewTraceHasNoParent) {
  Harness h;
  auto in = Conn(100, 101, "front", "10.0.0.1", 8000, "10.0.0.2", 50000);
  auto out = Conn(100, 101, "front", "10.0.0.1", 50002, "10.0.0.3", 9000);
  h.builder.OnRequestStart(Start(Role::kServer, 1'000), in);
  RequestStart call = Start(Role::kClient, 2'000);
  call.injected = RequestStart::Injected{false, 0x1111222233334444ULL, 0xaaaabbbbccccddddULL};
  h.builder.OnRequestStart(call, out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), out);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  ASSERT_TRUE(x);
  EXPECT_EQ(ToHex(x->trace_id), "aaaabbbbccccdddd1111222233334444");
  EXPECT_EQ(ToHex(x->span_id), "1111222233334444");
  EXPECT_FALSE(x->parent_span_id.has_value());
  EXPECT_EQ(Text(*x, "zerotrace.parent.not_inferred"), "new_trace_on_the_wire");
  EXPECT_EQ(h.builder.counters().propagated_new, 1u);
}

// Thread mode names a server request this builder never saw start (the kernel took a body for
// a request line): the wire's trace is unknown here, so the span joins no other request's.
TEST(SpanBuilderTest, InjectedCallOfAnUnknownThreadTraceStartsItsOwn) {
  Harness h;
  auto in = Conn(100, 101, "front", "10.0.0.1", 8000, "10.0.0.2", 50000);
  auto out = Conn(100, 101, "front", "10.0.0.1", 50002, "10.0.0.3", 9000);
  RequestStart server = Start(Role::kServer, 1'000);
  server.kernel_trace_id = *TraceIdFromHex("4bf92f3577b34da6a3ce929d0e0e4736");
  h.builder.OnRequestStart(server, in);
  RequestStart call = Start(Role::kClient, 2'000);
  call.injected = RequestStart::Injected{true, 0x00f067aa0ba902b7ULL, 1'500};  // not 1'000
  h.builder.OnRequestStart(call, out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), out);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  ASSERT_TRUE(x);
  EXPECT_NE(ToHex(x->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_FALSE(x->parent_span_id.has_value());
  EXPECT_EQ(h.builder.counters().propagated_trace_unknown, 1u);
}

// The kernel parsed the incoming traceparent (its trace is the thread's): the call continues it.
TEST(SpanBuilderTest, InjectedCallContinuesTheIncomingTrace) {
  Harness h;
  auto in = Conn(100, 101, "front", "10.0.0.1", 8000, "10.0.0.2", 50000);
  auto out = Conn(100, 101, "front", "10.0.0.1", 50002, "10.0.0.3", 9000);
  h.builder.OnRequestStart(
      Start(Role::kServer, 1'000, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), in);
  RequestStart call = Start(Role::kClient, 2'000);
  call.injected = RequestStart::Injected{true, 0x00f067aa0ba902b7ULL, 1'000};
  h.builder.OnRequestStart(call, out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'000, 3'000), out);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/a", "/a", 200, 1'000, 4'000), in);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  const Span* a = h.Named("GET /a", SpanKind::kServer);
  ASSERT_TRUE(x && a);
  EXPECT_EQ(ToHex(a->trace_id), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(x->trace_id, a->trace_id);
  ASSERT_TRUE(x->parent_span_id.has_value());
  EXPECT_EQ(*x->parent_span_id, a->span_id);
}

// A request announced and then lost (its connection closed) ends: the thread's next request is
// not taken for a second one in flight, and its calls keep their parent.
TEST(SpanBuilderTest, LostRequestEndsItsSpan) {
  Harness h;
  auto a_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50000);
  h.builder.OnRequestStart(Start(Role::kServer, 1'000), a_in);
  h.builder.OnLost(Protocol::kHttp1, Role::kServer, protocols::LossReason::kConnectionClosed, 1,
                   a_in);
  EXPECT_EQ(h.builder.open_requests(), 0u);
  auto b_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50001);
  auto out = Conn(100, 101, "front", "127.0.0.1", 50002, "127.0.0.1", 9000);
  h.builder.OnRequestStart(Start(Role::kServer, 2'000), b_in);
  h.builder.OnRequestStart(Start(Role::kClient, 2'500), out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 2'500, 2'800), out);
  h.builder.OnRequest(Http(Role::kServer, "GET", "/b", "/b", 200, 2'000, 3'000), b_in);
  const Span* x = h.Named("GET /x", SpanKind::kClient);
  const Span* b = h.Named("GET /b", SpanKind::kServer);
  ASSERT_TRUE(x && b);
  ASSERT_TRUE(x->parent_span_id.has_value());
  EXPECT_EQ(*x->parent_span_id, b->span_id);
  EXPECT_EQ(Text(*x, "zerotrace.parent.not_inferred"), "");
}

TEST(SpanBuilderTest, UnparsedRequestAfterItsStartClosesIt) {
  Harness h;
  auto front_in = Conn(100, 101, "front", "127.0.0.1", 8000, "127.0.0.1", 50000);
  h.builder.OnRequestStart(Start(Role::kServer, 100), front_in);
  EXPECT_EQ(h.builder.open_requests(), 1u);
  RequestRecord unparsed;
  unparsed.protocol = Protocol::kHttp1;
  unparsed.role = Role::kServer;
  unparsed.start_ns = 100;
  unparsed.end_ns = 200;
  h.builder.OnRequest(unparsed, front_in);
  EXPECT_EQ(h.builder.open_requests(), 0u);
  auto out = Conn(100, 101, "front", "127.0.0.1", 50001, "127.0.0.1", 9000);
  h.builder.OnRequestStart(Start(Role::kClient, 10'000), out);
  h.builder.OnRequest(Http(Role::kClient, "GET", "/x", "/x", 200, 10'000, 11'000), out);
  ASSERT_EQ(h.Spans().size(), 1u);
  EXPECT_FALSE(h.Spans()[0].parent_span_id.has_value()) << "parented to a span never exported";
}

}  // namespace
}  // namespace zerotrace::tracing

namespace zerotrace::tracing {
namespace {

TEST(SpanBuilderGpuTest, KernelLaunchedWhileServingIsAChildOfTheServerSpan) {
  Harness h;
  const ConnMeta conn = Conn(100, 101, "inference", "127.0.0.1", 8080, "127.0.0.1", 50000);
  h.builder.OnRequestStart(Start(Role::kServer, 1000), conn);
  GpuKernelRun k;
  k.tgid = 100;
  k.launch_tid = 101;
  k.launch_ns = 1500;
  k.start_ns = 1600;
  k.end_ns = 2600;
  k.kernel = "vecAdd";
  k.service = "inference";
  k.correlation_id = 7;
  h.builder.OnGpuKernel(k);
  GpuKernelRun other_thread = k;
  other_thread.launch_tid = 999;  // this thread serves no request
  h.builder.OnGpuKernel(other_thread);
  h.builder.OnRequest(Http(Role::kServer, "POST", "/infer", "/infer", 200, 1000, 3000), conn);

  const Span* server = h.Named("POST /infer", SpanKind::kServer);
  const Span* kernel = h.Named("gpu kernel vecAdd", SpanKind::kInternal);
  ASSERT_NE(server, nullptr);
  ASSERT_NE(kernel, nullptr);
  EXPECT_EQ(kernel->trace_id, server->trace_id);
  ASSERT_TRUE(kernel->parent_span_id.has_value());
  EXPECT_EQ(*kernel->parent_span_id, server->span_id);
  EXPECT_EQ(kernel->end_unix_ns - kernel->start_unix_ns, 1000);
  EXPECT_EQ(Attr<std::string>(*kernel, "gpu.kernel.name"), "vecAdd");
  EXPECT_EQ(Attr<int64_t>(*kernel, "cuda.correlation_id"), 7);
  EXPECT_EQ(h.builder.counters().gpu_kernel_spans, 1u);
  EXPECT_EQ(h.builder.counters().gpu_kernels_unparented, 1u);
}

}  // namespace
}  // namespace zerotrace::tracing
