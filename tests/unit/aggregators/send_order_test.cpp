// A connection's reads parsed after the writes they answer (SendOrder, through ConnTracker):
// events in the order the collector receives them when a reply's read on one CPU is reported
// before the write that caused it on another (a Go client), checked against the records a
// parser makes of them.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "aggregators/conn_tracker.h"
#include "aggregators/send_order.h"
#include "sock_event_test_util.h"

namespace zerotrace {
namespace {

class Records : public RequestConsumer {
 public:
  void OnRequest(const protocols::RequestRecord& r, const ConnMeta&) override {
    records.push_back(r);
  }
  void OnLost(protocols::Protocol, protocols::Role, protocols::LossReason reason, uint64_t n,
              const ConnMeta&) override {
    lost += n;
    last_lost = reason;
  }
  std::vector<protocols::RequestRecord> records;
  uint64_t lost = 0;
  protocols::LossReason last_lost = protocols::LossReason::kUnparsable;
};

constexpr uint32_t kTgid = 4343;  // not a live process: named by its comm
constexpr int32_t kFd = 9;
constexpr uint64_t kGen = 77;
constexpr uint32_t kIsn = 0xfffff000;  // write_seq wraps during the test

const std::string kRequest1 = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kRequest2 = "GET /bb HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kResponse200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const std::string kResponse404 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

// One client connection as the kernel reports it: stream offsets and write_seq per call.
struct Conn {
  explicit Conn(uint8_t role = SOCK_ROLE_CLIENT, bool with_seq = true)
      : catalog("/nonexistent-proc"), tracker(catalog), role(role), with_seq(with_seq) {
    tracker.AddConsumer(&out);
    sock_event_header h = Header(SOCK_EVENT_OPEN, 1);
    if (with_seq) {
      h.flags = SOCK_EV_SND_SEQ;
      h.snd_seq = kIsn;
    }
    tracker.OnEvent(h, nullptr);
  }
  sock_event_header Header(uint8_t type, uint64_t ts) const {
    return testing::SockEventHeader(type, ts, kTgid, kFd, kGen, role);
  }
  // A write of `bytes`: the socket's write_seq advances by its size. Returns its event, to be
  // delivered (Deliver) in whatever order the test wants.
  sock_event_header Write(uint64_t ts, const std::string& bytes) {
    sent += static_cast<uint32_t>(bytes.size());
    return DataHeader(SOCK_DIR_EGRESS, ts, bytes, off[1], sent);
  }
  // A read of `bytes`, made when the socket had queued `seq` bytes to send (default: all so far).
  sock_event_header Read(uint64_t ts, const std::string& bytes) {
    return DataHeader(SOCK_DIR_INGRESS, ts, bytes, off[0], sent);
  }
  sock_event_header DataHeader(uint8_t dir, uint64_t ts, const std::string& bytes, uint64_t& o,
                               uint32_t seq) const {
    sock_event_header h = Header(SOCK_EVENT_DATA, ts);
    h.direction = dir;
    h.size = bytes.size();
    h.captured = static_cast<uint32_t>(bytes.size());
    h.stream_off = o;
    o += bytes.size();
    h.flags = SOCK_EV_STREAM_OFF;
    if (with_seq) {
      h.flags |= SOCK_EV_SND_SEQ;
      h.snd_seq = seq;
    }
    return h;
  }
  void Deliver(const sock_event_header& h, const std::string& bytes) {
    tracker.OnEvent(h, reinterpret_cast<const uint8_t*>(bytes.data()));
  }
  void Close(uint64_t ts) { tracker.OnEvent(Header(SOCK_EVENT_CLOSE, ts), nullptr); }

  ProcessCatalog catalog;
  ConnTracker tracker;
  Records out;
  uint8_t role;
  bool with_seq;
  uint32_t sent = kIsn;
  uint64_t off[2] = {0, 0};
};

TEST(SendOrder, ReplyReportedBeforeItsRequestIsParsedAfterIt) {
  Conn c;
  // The client's writer thread sends the request; its reader thread reads the reply and is
  // reported first (earlier timestamp).
  const auto req = c.Write(1'000'300, kRequest1);
  const auto resp = c.Read(1'000'200, kResponse200);
  c.Deliver(resp, kResponse200);
  EXPECT_TRUE(c.out.records.empty());  // held: the write it answers is still to come
  c.Deliver(req, kRequest1);
  ASSERT_EQ(c.out.records.size(), 1u);
  EXPECT_EQ(c.out.records[0].path, "/a");
  EXPECT_EQ(c.out.records[0].status_code, 200);
  // Timed from the write's report to it: never negative (the RED series would drop it).
  EXPECT_EQ(c.out.records[0].start_ns, 1'000'300u);
  EXPECT_EQ(c.out.records[0].end_ns, 1'000'300u);
  EXPECT_EQ(c.out.lost, 0u);
  EXPECT_EQ(c.tracker.counters().reads_reordered.reordered, 1u);

  // The next exchange in order: nothing held.
  const auto req2 = c.Write(2'000'000, kRequest2);
  c.Deliver(req2, kRequest2);
  const auto resp2 = c.Read(2'000'100, kResponse404);
  c.Deliver(resp2, kResponse404);
  c.Close(3'000'000);
  c.tracker.SweepClosed(UINT64_MAX);
  ASSERT_EQ(c.out.records.size(), 2u);
  EXPECT_EQ(c.out.records[1].path, "/bb");
  EXPECT_EQ(c.out.records[1].status_code, 404);
  EXPECT_EQ(c.out.lost, 0u);
  EXPECT_EQ(c.tracker.counters().reads_reordered.reordered, 1u);
}

TEST(SendOrder, WithoutWriteSeqTheSameOrderLosesTheRequest) {
  // What the events say without SOCK_EV_SND_SEQ (the failure this ordering fixes): the reply
  // answers nothing, and the request is still waiting for one when the connection ends.
  Conn c(SOCK_ROLE_CLIENT, /*with_seq=*/false);
  const auto req = c.Write(1'000'300, kRequest1);
  const auto resp = c.Read(1'000'200, kResponse200);
  c.Deliver(resp, kResponse200);
  c.Deliver(req, kRequest1);
  c.Close(2'000'000);
  c.tracker.SweepClosed(UINT64_MAX);
  EXPECT_TRUE(c.out.records.empty());
  EXPECT_EQ(c.out.lost, 2u);
}

TEST(SendOrder, ServerResponseReportedAfterTheNextRequestKeepsThePairs) {
  // The server's write of response 1 is reported after it read request 2 (which the client
  // could only send once it had response 1). Not held (a request start must not wait): the
  // parser pairs in order.
  Conn c(SOCK_ROLE_SERVER);
  const std::string& req1 = kRequest1;
  auto r1 = c.Read(1'000'000, req1);
  c.Deliver(r1, req1);
  const auto w1 = c.Write(1'000'500, kResponse200);
  const auto r2 = c.Read(1'000'400, kRequest2);
  c.Deliver(r2, kRequest2);
  c.Deliver(w1, kResponse200);
  const auto w2 = c.Write(1'000'900, kResponse404);
  c.Deliver(w2, kResponse404);
  ASSERT_EQ(c.out.records.size(), 2u);
  EXPECT_EQ(c.out.records[0].path, "/a");
  EXPECT_EQ(c.out.records[0].status_code, 200);
  EXPECT_EQ(c.out.records[1].path, "/bb");
  EXPECT_EQ(c.out.records[1].status_code, 404);
  EXPECT_EQ(c.out.lost, 0u);
  EXPECT_EQ(c.tracker.counters().reads_reordered.reordered, 0u);
}

TEST(SendOrder, AReadWhoseWriteWasNeverReportedGoesBeforeTheNextWrite) {
  // Request 1's event was lost (a full ring): its reply is held, and parsed before request 2,
  // whose write began after the read. Request 2 then pairs with its own reply.
  Conn c;
  c.Write(1'000'000, kRequest1);  // never delivered
  const auto resp1 = c.Read(1'000'100, kResponse200);
  c.Deliver(resp1, kResponse200);
  const auto req2 = c.Write(1'000'200, kRequest2);
  c.Deliver(req2, kRequest2);
  const auto resp2 = c.Read(1'000'300, kResponse404);
  c.Deliver(resp2, kResponse404);
  ASSERT_EQ(c.out.records.size(), 1u);
  EXPECT_EQ(c.out.records[0].path, "/bb");
  EXPECT_EQ(c.out.records[0].status_code, 404);
  EXPECT_EQ(c.out.lost, 1u);  // the reply without its request
  EXPECT_EQ(c.out.last_lost, protocols::LossReason::kCaptureGap);
}

TEST(SendOrder, AHoldEndsAfterItsTimeInEventTimeOrAtClose) {
  Conn c;
  c.Write(1'000'000, kRequest1);  // never delivered
  const auto resp1 = c.Read(1'000'100, kResponse200);
  c.Deliver(resp1, kResponse200);
  c.tracker.SweepHeld(1'000'100 + SendOrder::kMaxHoldNs - 1);
  EXPECT_EQ(c.out.lost, 0u);  // still held
  c.tracker.SweepHeld(1'000'100 + SendOrder::kMaxHoldNs);
  EXPECT_EQ(c.out.lost, 1u);
  EXPECT_EQ(c.tracker.counters().reads_reordered.expired, 1u);

  // Later reads are not held for the write that never came.
  const auto resp2 = c.Read(900'000'000, kResponse404);
  c.Deliver(resp2, kResponse404);
  EXPECT_EQ(c.out.lost, 2u);

  Conn d;
  d.Write(1'000'000, kRequest1);
  const auto held = d.Read(1'000'100, kResponse200);
  d.Deliver(held, kResponse200);
  d.Close(1'000'200);
  d.tracker.SweepClosed(UINT64_MAX);
  EXPECT_EQ(d.out.lost, 1u);  // parsed at the close, not left behind
}

TEST(SendOrder, TheBytesHeldOverAllConnectionsAreBounded) {
  // Many client connections whose writes all went unseen (a full ring): each holds its own
  // bound (1 MiB), and past 16 MiB in all the oldest holds are parsed as they came.
  ProcessCatalog catalog("/nonexistent-proc");
  ConnTracker tracker(catalog);
  const std::string chunk(64 * 1024, 'x');
  const uint64_t per_conn = SendOrder::kMaxHeldBytes / chunk.size();  // reads each may hold
  uint64_t ts = 1'000'000;
  for (int fd = 0; fd < 17; ++fd) {
    sock_event_header open =
        testing::SockEventHeader(SOCK_EVENT_OPEN, ++ts, kTgid, fd, kGen, SOCK_ROLE_CLIENT);
    open.flags = SOCK_EV_SND_SEQ;
    open.snd_seq = 1000;
    tracker.OnEvent(open, nullptr);
    for (uint64_t i = 0; i < per_conn; ++i) {
      sock_event_header h =
          testing::SockEventHeader(SOCK_EVENT_DATA, ++ts, kTgid, fd, kGen, SOCK_ROLE_CLIENT);
      h.direction = SOCK_DIR_INGRESS;
      h.size = h.captured = static_cast<uint32_t>(chunk.size());
      h.stream_off = i * chunk.size();
      h.flags = SOCK_EV_STREAM_OFF | SOCK_EV_SND_SEQ;
      h.snd_seq = 5000;  // 4000 bytes sent that no write event reported
      tracker.OnEvent(h, reinterpret_cast<const uint8_t*>(chunk.data()));
    }
    // 16 connections hold 16 MiB: none released; the 17th is over the bound.
    EXPECT_EQ(tracker.counters().reads_reordered.overflowed, fd < 16 ? 0u : per_conn) << fd;
  }
  tracker.SweepHeld(ts + SendOrder::kMaxHoldNs);
  EXPECT_EQ(tracker.counters().reads_reordered.expired, 16 * per_conn);
}

TEST(SendOrder, ReadsBehindAHeldReadKeepTheirOrderAndBoundsRelease) {
  SendOrder order;
  sock_event_header open{};
  open.flags = SOCK_EV_SND_SEQ;
  open.snd_seq = 100;
  order.OnOpen(open);
  std::vector<uint64_t> fed;
  const SendOrder::Feed feed = [&](const sock_event_header& h, const uint8_t*) {
    fed.push_back(h.ts);
  };
  auto read = [](uint64_t ts, uint32_t seq, uint32_t flags = SOCK_EV_SND_SEQ) {
    sock_event_header h{};
    h.ts = ts;
    h.direction = SOCK_DIR_INGRESS;
    h.flags = flags;
    h.snd_seq = seq;
    return h;
  };
  const uint8_t none = 0;
  order.Route(read(1, 101), &none, true, feed);  // one past: a FIN, not a write
  EXPECT_EQ(fed.size(), 1u);
  order.Route(read(2, 150), &none, true, feed);  // held
  order.Route(read(3, 100), &none, true, feed);  // behind a held read: held too
  order.Route(read(4, 0, SOCK_EV_SEGMENT), &none, true, feed);
  EXPECT_EQ(fed.size(), 1u);
  for (size_t i = 0; i < SendOrder::kMaxHeldEvents; ++i) {
    order.Route(read(10 + i, 150), &none, true, feed);
  }
  // The bound: everything held is parsed, in order, then the read that reached it.
  ASSERT_EQ(fed.size(), 1u + 3u + SendOrder::kMaxHeldEvents);
  for (size_t i = 1; i < fed.size(); ++i) EXPECT_LT(fed[i - 1], fed[i]);
  EXPECT_FALSE(order.holding());
  EXPECT_GT(order.counters().overflowed, 0u);
}

}  // namespace
}  // namespace zerotrace
