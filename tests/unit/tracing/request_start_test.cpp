// ConnTracker's request-start notifications (what SpanBuilder allocates ids from), fed with
// hand-made socket events.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "aggregators/conn_tracker.h"

namespace zerotrace {
namespace {

struct Recorder : RequestConsumer, RequestStartObserver {
  struct Seen {
    protocols::Role role;
    uint64_t start_ns;
    uint32_t tid;
    std::string traceparent;
    std::string tracestate;
    std::optional<std::array<uint8_t, 16>> kernel_trace_id;
    std::optional<RequestStart::Injected> injected;
  };
  void OnRequestStart(const RequestStart& s, const ConnMeta& c) override {
    starts.push_back({s.role, s.start_ns, c.tid, std::string(s.traceparent),
                      std::string(s.tracestate), s.kernel_trace_id, s.injected});
  }
  void OnRequest(const protocols::RequestRecord& r, const ConnMeta& c) override {
    records.push_back(r);
    record_tids.push_back(c.tid);
    record_services.push_back(c.service);
  }
  std::vector<Seen> starts;
  std::vector<protocols::RequestRecord> records;
  std::vector<uint32_t> record_tids;
  std::vector<std::string> record_services;
};

sock_event_header Header(uint8_t type, uint8_t role, uint8_t dir, uint64_t ts, uint32_t tid,
                         uint32_t size) {
  sock_event_header h;
  std::memset(&h, 0, sizeof(h));
  h.ts = ts;
  h.gen = 1;
  h.tgid = 4242;
  h.tid = tid;
  h.fd = 7;
  h.type = type;
  h.role = role;
  h.direction = dir;
  h.family = 2;
  h.lport = 8080;
  h.rport = 50000;
  h.laddr[0] = 127;
  h.laddr[3] = 1;
  h.raddr[0] = 127;
  h.raddr[3] = 1;
  h.size = size;
  h.captured = size;
  return h;
}

void Feed(ConnTracker& t, uint8_t role, uint8_t dir, uint64_t ts, uint32_t tid,
          const std::string& bytes) {
  auto h = Header(SOCK_EVENT_DATA, role, dir, ts, tid, static_cast<uint32_t>(bytes.size()));
  t.OnEvent(h, reinterpret_cast<const uint8_t*>(bytes.data()));
}

// The kernel can report a socket's end (TCP_CLOSE on a loopback reset) before the bytes of the
// write that caused it: the connection takes late bytes of its generation for a while after CLOSE
// and ends after ConnTracker::kCloseLingerNs of event time, or at once when its fd names a new
// connection.
class ConnTrackerCloseTest : public ::testing::Test {
 protected:
  void SetUp() override { tracker.AddConsumer(&rec); }
  ProcessCatalog catalog{"/nonexistent-proc"};
  ConnTracker tracker{catalog};
  Recorder rec;
};

TEST_F(ConnTrackerCloseTest, BytesAfterCloseStillCompleteTheRequest) {
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 100, 11, "GET /api/fail HTTP/1.1\r\n\r\n");
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_EGRESS, 200, 11,
       "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 6\r\n\r\n");
  auto close = Header(SOCK_EVENT_CLOSE, SOCK_ROLE_SERVER, 0, 250, 11, 0);
  tracker.OnEvent(close, nullptr);
  EXPECT_TRUE(rec.records.empty());
  EXPECT_EQ(tracker.connections(), 1u);
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_EGRESS, 260, 11, "front\n");
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].status_code, 502);
  tracker.SweepClosed(250 + ConnTracker::kCloseLingerNs - 1);
  EXPECT_EQ(tracker.connections(), 1u);
  tracker.SweepClosed(250 + ConnTracker::kCloseLingerNs);
  EXPECT_EQ(tracker.connections(), 0u);
}

TEST_F(ConnTrackerCloseTest, ANewConnectionOnTheFdEndsTheClosedOneAtOnce) {
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 100, 11, "GET /a HTTP/1.1\r\n\r\n");
  auto close = Header(SOCK_EVENT_CLOSE, SOCK_ROLE_SERVER, 0, 150, 11, 0);
  tracker.OnEvent(close, nullptr);
  auto next = Header(SOCK_EVENT_DATA, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 160, 11, 20);
  next.gen = 2;
  const std::string req = "GET /b HTTP/1.1\r\n\r\n";
  next.size = next.captured = static_cast<uint32_t>(req.size());
  tracker.OnEvent(next, reinterpret_cast<const uint8_t*>(req.data()));
  EXPECT_EQ(tracker.connections(), 1u);                    // only the new one
  tracker.SweepClosed(150 + ConnTracker::kCloseLingerNs);  // the stale entry is skipped
  EXPECT_EQ(tracker.connections(), 1u);
}

TEST(RequestStartTest, ServerStartCarriesTraceHeadersAndMatchesRecord) {
  ProcessCatalog catalog("/nonexistent-proc");
  ConnTracker tracker(catalog);
  Recorder rec;
  tracker.AddConsumer(&rec);  // also registered as a start observer
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 100, 11,
       "GET /users/7?token=x HTTP/1.1\r\nHost: a\r\n"
       "TraceParent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
       "tracestate:  congo=t61rcWkgMzE \r\n\r\n");
  ASSERT_EQ(rec.starts.size(), 1u);
  EXPECT_TRUE(rec.records.empty());
  EXPECT_EQ(rec.starts[0].role, protocols::Role::kServer);
  EXPECT_EQ(rec.starts[0].start_ns, 100u);
  EXPECT_EQ(rec.starts[0].tid, 11u);
  EXPECT_EQ(rec.starts[0].traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(rec.starts[0].tracestate, "congo=t61rcWkgMzE");
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_EGRESS, 200, 12,
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].start_ns, rec.starts[0].start_ns);  // how the two are matched
  EXPECT_EQ(rec.record_tids[0], 12u);                          // completing thread

  // Keep-alive: the next request on the connection starts again; no trace headers.
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 300, 11, "GET /b HTTP/1.1\r\n\r\n");
  ASSERT_EQ(rec.starts.size(), 2u);
  EXPECT_EQ(rec.starts[1].start_ns, 300u);
  EXPECT_TRUE(rec.starts[1].traceparent.empty());
  // Body bytes and responses are not starts.
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_EGRESS, 400, 11,
       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(rec.starts.size(), 2u);
  EXPECT_EQ(rec.records.size(), 2u);
}

TEST(RequestStartTest, ClientStartIsTheWrite) {
  ProcessCatalog catalog("/nonexistent-proc");
  ConnTracker tracker(catalog);
  Recorder rec;
  tracker.AddConsumer(&rec);
  Feed(tracker, SOCK_ROLE_CLIENT, SOCK_DIR_EGRESS, 10, 5,
       "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_EQ(rec.starts.size(), 1u);
  EXPECT_EQ(rec.starts[0].role, protocols::Role::kClient);
  Feed(tracker, SOCK_ROLE_CLIENT, SOCK_DIR_INGRESS, 20, 5,
       "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].start_ns, 10u);
}

// A body that carries an HTTP message (an upload, a proxied request) starts no request of its
// own: only bytes at a message boundary do.
// traceparent propagation: what the kernel reported in the event header reaches the start.
TEST(RequestStartTest, KernelTraceAndInsertedIdsComeWithTheStart) {
  ProcessCatalog catalog("/nonexistent-proc");
  ConnTracker tracker(catalog);
  Recorder rec;
  tracker.AddConsumer(&rec);
  const std::string req = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  auto h = Header(SOCK_EVENT_DATA, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 100, 11,
                  static_cast<uint32_t>(req.size()));
  h.flags = SOCK_EV_SERVER_TRACE;
  for (int i = 0; i < 16; ++i) h.trace_id[i] = static_cast<uint8_t>(i + 1);
  tracker.OnEvent(h, reinterpret_cast<const uint8_t*>(req.data()));
  ASSERT_EQ(rec.starts.size(), 1u);
  ASSERT_TRUE(rec.starts[0].kernel_trace_id.has_value());
  EXPECT_EQ((*rec.starts[0].kernel_trace_id)[15], 16);
  EXPECT_FALSE(rec.starts[0].injected.has_value());

  auto c = Header(SOCK_EVENT_DATA, SOCK_ROLE_CLIENT, SOCK_DIR_EGRESS, 200, 11,
                  static_cast<uint32_t>(req.size()));
  c.fd = 8;
  c.lport = 50001;
  c.rport = 9000;
  c.flags = SOCK_EV_INJECTED_THREAD;
  c.ids.span_id = 0x1234;
  c.ids.aux = 100;
  tracker.OnEvent(c, reinterpret_cast<const uint8_t*>(req.data()));
  ASSERT_EQ(rec.starts.size(), 2u);
  ASSERT_TRUE(rec.starts[1].injected.has_value());
  EXPECT_TRUE(rec.starts[1].injected->thread_trace);
  EXPECT_EQ(rec.starts[1].injected->span_id, 0x1234u);
  EXPECT_EQ(rec.starts[1].injected->aux, 100u);
  EXPECT_FALSE(rec.starts[1].kernel_trace_id.has_value());
}

TEST(RequestStartTest, RequestLineInsideABodyStartsNothing) {
  ProcessCatalog catalog("/nonexistent-proc");
  ConnTracker tracker(catalog);
  Recorder rec;
  tracker.AddConsumer(&rec);
  const std::string inner = "GET /inner HTTP/1.1\r\nHost: x\r\n\r\n";
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 100, 11,
       "POST /upload HTTP/1.1\r\nContent-Length: " + std::to_string(inner.size()) + "\r\n\r\n");
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 200, 11, inner);
  ASSERT_EQ(rec.starts.size(), 1u);
  EXPECT_EQ(rec.starts[0].start_ns, 100u);
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_EGRESS, 300, 11,
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(rec.records.size(), 1u);
  EXPECT_EQ(rec.records[0].route, "/upload");
  // The next request on the connection starts one again.
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 400, 11, "GET /next HTTP/1.1\r\n\r\n");
  ASSERT_EQ(rec.starts.size(), 2u);
  EXPECT_EQ(rec.starts[1].start_ns, 400u);
}

TEST(RequestStartTest, PlainConsumersAreNotObservers) {
  struct Plain : RequestConsumer {
    void OnRequest(const protocols::RequestRecord&, const ConnMeta&) override { ++n; }
    int n = 0;
  } plain;
  ProcessCatalog catalog("/nonexistent-proc");
  ConnTracker tracker(catalog);
  tracker.AddConsumer(&plain);
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_INGRESS, 1, 1, "GET / HTTP/1.1\r\n\r\n");
  Feed(tracker, SOCK_ROLE_SERVER, SOCK_DIR_EGRESS, 2, 1, "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(plain.n, 1);
}

// A load generator's connections: the kernel sends the process's environment with the first
// one only. /proc read while the process exits shows an empty environ (its memory is gone, it is
// not a zombie yet), and that torn view names it by its binary; every connection of the
// instance must still carry the OTEL_SERVICE_NAME its first connection brought.
TEST(ConnTrackerNamingTest, EveryConnectionOfAnInstanceTakesTheNameItsEnvironmentGave) {
  namespace fs = std::filesystem;
  const fs::path proc = fs::temp_directory_path() / ("zt-fake-proc-" + std::to_string(getpid()));
  fs::remove_all(proc);
  fs::create_directories(proc / "4242");
  // Alive (state S), exiting: environ empty, no exe link.
  std::ofstream(proc / "4242/stat")
      << "4242 (h2load) S 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0";
  std::ofstream(proc / "4242/environ") << "";
  ProcessCatalog catalog{proc.string()};
  ConnTracker tracker{catalog};
  Recorder rec;
  tracker.AddConsumer(&rec);
  const std::string env = std::string("PATH=/bin") + '\0' + "OTEL_SERVICE_NAME=load-gen" + '\0';
  for (int fd : {7, 8, 9}) {
    auto open = Header(SOCK_EVENT_OPEN, SOCK_ROLE_CLIENT, SOCK_DIR_EGRESS, 10 + fd, 11, 0);
    open.fd = fd;
    if (fd == 7) {
      open.size = open.captured = static_cast<uint32_t>(env.size());
      tracker.OnEvent(open, reinterpret_cast<const uint8_t*>(env.data()));
    } else {
      tracker.OnEvent(open, nullptr);
    }
  }
  for (int fd : {7, 8, 9}) {
    const std::string req = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    auto out = Header(SOCK_EVENT_DATA, SOCK_ROLE_CLIENT, SOCK_DIR_EGRESS, 100 + fd, 11,
                      static_cast<uint32_t>(req.size()));
    out.fd = fd;
    tracker.OnEvent(out, reinterpret_cast<const uint8_t*>(req.data()));
    auto in = Header(SOCK_EVENT_DATA, SOCK_ROLE_CLIENT, SOCK_DIR_INGRESS, 200 + fd, 11,
                     static_cast<uint32_t>(resp.size()));
    in.fd = fd;
    tracker.OnEvent(in, reinterpret_cast<const uint8_t*>(resp.data()));
  }
  EXPECT_EQ(rec.record_services, (std::vector<std::string>{"load-gen", "load-gen", "load-gen"}));
  fs::remove_all(proc);
}

}  // namespace
}  // namespace zerotrace
