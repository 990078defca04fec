#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aggregators/send_order.h"
#include "probes/capture_hints.h"
#include "process/process_catalog.h"
#include "protocols/common/connection_parser.h"
#include "protocols/common/request_record.h"
#include "protocols/common/route_templater.h"
#include "sockets.h"

namespace zerotrace {

// Who a request belongs to: the process and the connection's endpoints.
struct ConnMeta {
  uint32_t tgid = 0;
  uint32_t tid = 0;  // thread of the event that completed the request
  std::string service;
  std::map<std::string, std::string> k8s;  // k8s_* labels, empty off Kubernetes
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  std::string local_addr;
  std::string remote_addr;
};

class RequestConsumer {
 public:
  virtual ~RequestConsumer() = default;
  virtual void OnRequest(const protocols::RequestRecord& record, const ConnMeta& conn) = 0;
  // Requests the parsers know went by but can make no record of (see RecordSink::OnLost).
  virtual void OnLost(protocols::Protocol protocol, protocols::Role role,
                      protocols::LossReason reason, uint64_t requests, const ConnMeta& conn) {
    (void)protocol;
    (void)role;
    (void)reason;
    (void)requests;
    (void)conn;
  }
};

// The first bytes of a request were seen (HTTP/1 only: a read/write in the request direction
// that begins with a request line). `start_ns` equals the start_ns of the RequestRecord that
// the request completes with later, so the two can be matched; `conn.tid` is the thread that
// read (server) or wrote (client) those bytes. Views are valid only during the call.
struct RequestStart {
  protocols::Protocol protocol = protocols::Protocol::kUnknown;
  protocols::Role role = protocols::Role::kUnknown;
  uint64_t start_ns = 0;
  std::string_view traceparent;  // header values found in the captured bytes, else empty
  std::string_view tracestate;
  // traceparent propagation (bpf/propagation.h), when it is on. Server: the trace id the kernel
  // gave this request (it carried no traceparent), which the requests it makes on this thread
  // carry. Client: what the kernel inserted into this request on the wire.
  std::optional<std::array<uint8_t, 16>> kernel_trace_id;
  struct Injected {
    bool thread_trace = false;  // the trace of the thread's server request started at `aux`
    uint64_t span_id = 0;
    uint64_t aux = 0;  // thread_trace: that request's start_ns; else the trace id's high half
  };
  std::optional<Injected> injected;
};

// Optional: told when requests start (e.g. to allocate a server span id before the client
// calls made while serving it complete). A RequestConsumer that also implements this interface
// is registered for both by AddConsumer.
class RequestStartObserver {
 public:
  virtual ~RequestStartObserver() = default;
  virtual void OnRequestStart(const RequestStart& start, const ConnMeta& conn) = 0;
};

struct ConnTrackerCounters {
  uint64_t connections_opened = 0;
  uint64_t connections_dropped = 0;  // over the connection bound
  uint64_t bytes_captured = 0;
  uint64_t bytes_not_copied = 0;  // left in the kernel on a capture hint (skipped bodies)
  uint64_t requests = 0;
  uint64_t segments_unmatched = 0;  // SEGMENT events whose call was not (fully) seen
  // Events of a direction whose kernel stream offset is not where the previous one ended:
  // behind it (reported late: two threads' calls out of order) or past it (bytes never seen).
  uint64_t events_late = 0;
  uint64_t events_after_gap = 0;
  // Events under a new generation for an fd whose connection was not seen closing: the old
  // connection is closed (its open requests lost) and a new one starts mid-stream.
  uint64_t generation_switches = 0;
  // Reads parsed after the write they answered although reported before it (SendOrder).
  SendOrder::Counters reads_reordered;
};

// Routes socket events to one ConnectionParser per connection (tgid, fd, generation) and hands
// completed requests to the consumers. Single-threaded: the ring-buffer thread owns it.
class ConnTracker {
 public:
  static constexpr size_t kDefaultMaxConnections = 65536;
  ConnTracker(ProcessCatalog& catalog, size_t max_connections = kDefaultMaxConnections,
              size_t max_routes_per_service = 100);
  ~ConnTracker();

  // A consumer that is also a RequestStartObserver receives request starts too.
  void AddConsumer(RequestConsumer* consumer);
  void AddStartObserver(RequestStartObserver* observer) { start_observers_.push_back(observer); }
  void OnEvent(const sock_event_header& h, const uint8_t* data);
  // Where to send capture hints (the rest of a body of at least kSkipMinBytes, ignored
  // connections); null: everything is copied.
  void SetCaptureHints(CaptureHints* hints) { hints_ = hints; }
  static constexpr uint64_t kSkipMinBytes = 64 * 1024;
  // Drops connections of processes that exited (their close may never have been seen), once
  // they have been quiet for `grace_ns`: events of a process that just exited may still be
  // waiting in the ring buffer and must reach their connection first.
  void SweepDead(uint64_t now_ns, uint64_t grace_ns = 5'000'000'000ull);

  // A CLOSE does not end its connection at once: the kernel can report the socket's end before
  // the last bytes of the syscall that caused it (on loopback a write's peer reset is processed
  // inside that write), so the connection lingers this long in event time, or until its fd
  // names another connection, taking late bytes. `now_ns` ends those older than that.
  static constexpr uint64_t kCloseLingerNs = 100'000'000ull;
  void SweepClosed(uint64_t now_ns);
  // Parses the reads held for a write that did not come within SendOrder::kMaxHoldNs.
  void SweepHeld(uint64_t now_ns);

  size_t connections() const { return conns_.size(); }
  const ConnTrackerCounters& counters() const { return counters_; }
  // Parser counters (unparsed per protocol, ...) since the previous call.
  protocols::ParserCounters TakeParserCounters();

 private:
  struct Conn;
  struct Key {
    uint32_t tgid;
    int32_t fd;
    bool operator==(const Key& o) const { return tgid == o.tgid && fd == o.fd; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return (static_cast<size_t>(k.tgid) << 32) ^ static_cast<uint32_t>(k.fd);
    }
  };
  class Sink;

  // `environ` is the process environment an OPEN event may carry (empty otherwise).
  Conn* Open(const sock_event_header& h, std::string_view environ = {});
  void Close(const Key& key, uint64_t ts);
  struct Closing {
    Key key;
    uint64_t gen;
    uint64_t ts;
  };
  protocols::RouteTemplater* TemplaterFor(const std::string& service);
  void NotifyRequestStart(const Conn& conn, const protocols::DataEvent& event,
                          const sock_event_header& h);
  void FeedData(Conn& conn, const sock_event_header& h, const uint8_t* data);
  // One DATA event in the order SendOrder puts it: parsed, then capture hints.
  void Parse(const Key& key, Conn& conn, const sock_event_header& h, const uint8_t* data);
  // Runs `op(feed)`, one operation of the connection's SendOrder, and keeps the counters, the
  // bytes held over all connections and the list of holding connections up to date.
  template <typename Op>
  void Order(const Key& key, Conn& conn, const Op& op);
  // Over kMaxHeldBytes held in all: the oldest holds are parsed as they came.
  void ReleaseOldestHolds();
  void Hint(const Key& key, Conn& conn, int dir);

  ProcessCatalog& catalog_;
  // How each process instance was named at its first connection, the one the kernel sends its
  // environment with (see Open). Bounded; a pid's entry is replaced by its next instance's.
  struct InstanceName {
    std::string service;
    bool from_environ = false;  // its OTEL_SERVICE_NAME, as the kernel captured it
  };
  static constexpr size_t kMaxRememberedNames = 65536;
  std::unordered_map<uint32_t, InstanceName> instance_names_;
  CaptureHints* hints_ = nullptr;
  size_t max_connections_;
  size_t max_routes_per_service_;
  std::unordered_map<Key, std::unique_ptr<Conn>, KeyHash> conns_;
  std::deque<Closing> closing_;  // in CLOSE order; entries whose connection is gone are skipped
  // Connections that began holding reads, in that order (stale entries are skipped).
  struct Holding {
    Key key;
    uint64_t gen;
    uint64_t since;
  };
  std::deque<Holding> holding_;
  // Bytes held over all connections, bounded (each connection's own bound times many
  // connections whose writes went unseen at once would be unbounded).
  static constexpr size_t kMaxHeldBytes = 16 << 20;
  size_t held_bytes_ = 0;
  std::unordered_map<std::string, std::unique_ptr<protocols::RouteTemplater>> templaters_;
  std::vector<RequestConsumer*> consumers_;
  std::vector<RequestStartObserver*> start_observers_;
  ConnTrackerCounters counters_;
  protocols::ParserCounters closed_parser_counters_;
};

std::string FormatAddress(uint8_t family, const uint8_t* addr);

}  // namespace zerotrace
