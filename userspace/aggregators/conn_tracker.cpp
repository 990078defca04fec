#include "aggregators/conn_tracker.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "protocols/common/text_util.h"
#include "protocols/http1/http1_parser.h"

namespace zerotrace {

std::string FormatAddress(uint8_t family, const uint8_t* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == 2 /* AF_INET */) {
    inet_ntop(AF_INET, addr, buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, addr, buf, sizeof(buf));
  }
  return buf;
}

// Adds the connection's identity to each record the parser completes.
class ConnTracker::Sink : public protocols::RecordSink {
 public:
  Sink(ConnTracker& tracker, const ConnMeta& meta, protocols::Role role)
      : tracker_(tracker), meta_(meta), role_(role) {}
  void OnRecord(const protocols::RequestRecord& record) override {
    ++tracker_.counters_.requests;
    for (auto* c : tracker_.consumers_) c->OnRequest(record, meta_);
  }
  void OnLost(protocols::Protocol protocol, protocols::LossReason reason,
              uint64_t requests) override {
    for (auto* c : tracker_.consumers_) c->OnLost(protocol, role_, reason, requests, meta_);
  }

 private:
  ConnTracker& tracker_;
  const ConnMeta& meta_;
  protocols::Role role_;
};

struct ConnTracker::Conn {
  uint64_t gen = 0;
  uint64_t last_ts = 0;    // monotonic ns of the latest event
  uint64_t closed_ts = 0;  // when its CLOSE came (0: open); see kCloseLingerNs
  ConnMeta meta;
  std::unique_ptr<protocols::ConnectionParser> parser;
  // Per direction: where the next event's bytes should start in the stream (kernel offsets).
  uint64_t next_off[2] = {0, 0};
  bool off_known[2] = {false, false};
  sock_skip_value skip{};  // the hint last stored for this connection
  bool hinted = false;
  bool hint_failed = false;
  // Per direction: a call the kernel followed HTTP/2 frames in (SOCK_EV_H2_FRAMED) whose
  // SEGMENT events are still to come. `fed`: bytes of the call given to the parser so far.
  struct Framed {
    bool active = false;
    uint64_t stream_off = 0;
    uint64_t size = 0;
    uint64_t fed = 0;
    uint64_t ts = 0;
  };
  Framed framed[2];
  SendOrder order;
};

ConnTracker::ConnTracker(ProcessCatalog& catalog, size_t max_connections,
                         size_t max_routes_per_service)
    : catalog_(catalog),
      max_connections_(max_connections),
      max_routes_per_service_(max_routes_per_service) {}

ConnTracker::~ConnTracker() = default;

void ConnTracker::AddConsumer(RequestConsumer* consumer) {
  consumers_.push_back(consumer);
  if (auto* observer = dynamic_cast<RequestStartObserver*>(consumer)) {
    start_observers_.push_back(observer);
  }
}

namespace {

// traceparent / tracestate from the header lines of a captured HTTP/1 request head.
void FindTraceHeaders(std::string_view head, RequestStart* start) {
  const size_t end = protocols::FindHeaderEnd(head, 0);
  if (end != std::string_view::npos) head = head.substr(0, end + 2);
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const size_t line_start = pos + 2;
    pos = head.find("\r\n", line_start);
    if (pos == std::string_view::npos) break;  // a truncated last line is not trusted
    const std::string_view line = head.substr(line_start, pos - line_start);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = protocols::TrimOws(line.substr(colon + 1));
    if (protocols::EqualsIgnoreCase(name, "traceparent")) start->traceparent = value;
    if (protocols::EqualsIgnoreCase(name, "tracestate")) start->tracestate = value;
  }
}

}  // namespace

void ConnTracker::NotifyRequestStart(const Conn& conn, const protocols::DataEvent& event,
                                     const sock_event_header& h) {
  const auto& parser = *conn.parser;
  if (parser.protocol() != protocols::Protocol::kHttp1) return;
  const protocols::Role role = parser.role();
  const protocols::Direction request_dir = role == protocols::Role::kServer
                                               ? protocols::Direction::kIngress
                                               : protocols::Direction::kEgress;
  if (role == protocols::Role::kUnknown || event.direction != request_dir) return;
  const std::string_view head = protocols::AsStringView(event.captured);
  if (!protocols::LooksLikeHttp1Request(head)) return;
  RequestStart start;
  start.protocol = protocols::Protocol::kHttp1;
  start.role = role;
  start.start_ns = event.timestamp_ns;
  FindTraceHeaders(head, &start);
  if (role == protocols::Role::kServer && (h.flags & SOCK_EV_SERVER_TRACE)) {
    std::array<uint8_t, 16> trace;
    std::memcpy(trace.data(), h.trace_id, trace.size());
    start.kernel_trace_id = trace;
  }
  if (role == protocols::Role::kClient &&
      (h.flags & (SOCK_EV_INJECTED_THREAD | SOCK_EV_INJECTED_NEW))) {
    start.injected =
        RequestStart::Injected{(h.flags & SOCK_EV_INJECTED_THREAD) != 0, h.ids.span_id, h.ids.aux};
  }
  for (auto* o : start_observers_) o->OnRequestStart(start, conn.meta);
}

protocols::RouteTemplater* ConnTracker::TemplaterFor(const std::string& service) {
  auto& t = templaters_[service];
  if (!t) t = std::make_unique<protocols::RouteTemplater>(max_routes_per_service_);
  return t.get();
}

ConnTracker::Conn* ConnTracker::Open(const sock_event_header& h, std::string_view environ) {
  if (conns_.size() >= max_connections_) {
    ++counters_.connections_dropped;
    return nullptr;
  }
  auto conn = std::make_unique<Conn>();
  conn->gen = h.gen;
  conn->last_ts = h.ts;
  auto& m = conn->meta;
  m.tgid = h.tgid;
  // An environment comes with the first connection of a process instance (the kernel keys that
  // by pid and start time): the pid may have just been reused, so the cache is not trusted.
  auto info = environ.empty() ? catalog_.Lookup(h.tgid) : catalog_.LookupFresh(h.tgid);
  const auto known = environ.empty() ? instance_names_.find(h.tgid) : instance_names_.end();
  if (known != instance_names_.end() && known->second.from_environ) {
    // The instance's own OTEL_SERVICE_NAME, from the environment its first connection carried:
    // /proc may have been read while the process exited (environ empty) and that torn name
    // cached; a load generator's 4 connections were split 1 named / 3 by the binary (CI).
    m.service = known->second.service;
    if (info) m.k8s = K8sLabels(info->k8s);
  } else if (info) {
    m.service = info->service_name;
    m.k8s = K8sLabels(info->k8s);
  } else if (known != instance_names_.end()) {
    // Gone from /proc, and not its first connection: named as its first one was (the kernel
    // sends the environment once per process instance).
    m.service = known->second.service;
  } else {
    // Already gone from /proc (a short-lived client): the environment the kernel sent with the
    // first connection still holds OTEL_SERVICE_NAME; else the comm names it.
    m.service = ResolveServiceName(std::string(environ), std::nullopt, "",
                                   std::string(h.comm, strnlen(h.comm, sizeof(h.comm))));
  }
  // The environment the kernel captured at the connection is the authority for
  // OTEL_SERVICE_NAME: /proc may have been read in the moment the process was exiting (after its
  // memory is released, environ reads empty but the process is not a zombie yet).
  if (!environ.empty()) {
    const auto otel_name = OtelServiceName(std::string(environ));
    if (otel_name) m.service = *otel_name;
    // A process instance's later connections may be read after it exited (a load generator
    // that ends within the reader's batching delay): they are named by this one. Bounded: a
    // pid's entry is replaced by its next instance's first connection.
    if (instance_names_.size() >= kMaxRememberedNames) instance_names_.clear();
    instance_names_[h.tgid] = {m.service, otel_name.has_value()};
  }
  m.local_port = h.lport;
  m.remote_port = h.rport;
  m.local_addr = FormatAddress(h.family, h.laddr);
  m.remote_addr = FormatAddress(h.family, h.raddr);
  protocols::ConnectionParser::Options opts;
  opts.role = h.role == SOCK_ROLE_SERVER   ? protocols::Role::kServer
              : h.role == SOCK_ROLE_CLIENT ? protocols::Role::kClient
                                           : protocols::Role::kUnknown;
  opts.templater = TemplaterFor(m.service);
  conn->parser = std::make_unique<protocols::ConnectionParser>(opts);
  ++counters_.connections_opened;
  Conn* raw = conn.get();
  conns_[{h.tgid, h.fd}] = std::move(conn);
  return raw;
}

void ConnTracker::Close(const Key& key, uint64_t ts) {
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  if (it->second->hinted && hints_) {
    hints_->ClearSkip({key.tgid, key.fd, it->second->gen});
  }
  Conn& conn = *it->second;
  if (conn.order.holding()) {
    Order(key, conn, [&](const SendOrder::Feed& feed) { conn.order.Flush(feed); });
  }
  Sink sink(*this, it->second->meta, it->second->parser->role());
  it->second->parser->OnClose(ts, sink);
  closed_parser_counters_.Add(it->second->parser->TakeCounters());
  conns_.erase(it);
}

void ConnTracker::OnEvent(const sock_event_header& h, const uint8_t* data) {
  if (spdlog::should_log(spdlog::level::trace)) {
    std::string head;
    for (uint32_t i = 0; i < std::min<uint32_t>(h.captured, 24); ++i) {
      head += fmt::format("{:02x}", data[i]);
    }
    spdlog::trace(
        "sock event type={} tgid={} tid={} fd={} gen={} role={} dir={} size={} "
        "captured={} off={} from={} flags={:#x} segments={} snd_seq={} head={}",
        h.type, h.tgid, h.tid, h.fd, h.gen, h.role, h.direction, h.size, h.captured, h.stream_off,
        h.captured_from, h.flags, h.segments, h.snd_seq, head);
  }
  if (!closing_.empty()) SweepClosed(h.ts);
  if (!holding_.empty()) SweepHeld(h.ts);
  const Key key{h.tgid, h.fd};
  auto it = conns_.find(key);
  if (it != conns_.end()) it->second->last_ts = h.ts;
  if (it != conns_.end() && it->second->gen != h.gen) {
    if (h.gen < it->second->gen) {
      // An event of an earlier connection on this fd, reported after the next one began (its
      // CLOSE comes from the TCP state change, which can trail the fd's reuse by another
      // connection): that connection was closed when the later one appeared, and closing the
      // later one now would restart its parser mid-stream (an HTTP/2 connection's HPACK state
      // lost for good).
      ++counters_.events_late;
      return;
    }
    // A later generation on the same fd: the old connection's close was not seen (yet).
    if (!it->second->closed_ts) {
      ++counters_.generation_switches;
      spdlog::debug("connection tgid={} fd={}: generation {} -> {} without a close", h.tgid, h.fd,
                    it->second->gen, h.gen);
    }
    Close(key, h.ts);
    it = conns_.end();
  }
  switch (h.type) {
    case SOCK_EVENT_OPEN:
      if (it == conns_.end()) {
        Conn* conn = Open(h, std::string_view(reinterpret_cast<const char*>(data), h.captured));
        if (conn) conn->order.OnOpen(h);
      }
      return;
    case SOCK_EVENT_CLOSE:
      if (it != conns_.end() && !it->second->closed_ts) {
        it->second->closed_ts = h.ts ? h.ts : 1;
        closing_.push_back({key, h.gen, h.ts});
      }
      return;
    case SOCK_EVENT_DATA: {
      if ((h.flags & SOCK_EV_SEGMENT) && it == conns_.end()) {
        ++counters_.segments_unmatched;  // the rest of a call whose event was lost
        return;
      }
      Conn* conn = it != conns_.end() ? it->second.get() : Open(h);
      if (!conn) return;
      counters_.bytes_captured += h.captured;
      const bool may_hold =
          conn->parser->role() == protocols::Role::kClient && !conn->parser->ignored();
      Order(key, *conn,
            [&](const SendOrder::Feed& feed) { conn->order.Route(h, data, may_hold, feed); });
      if (held_bytes_ > kMaxHeldBytes) ReleaseOldestHolds();
      return;
    }
    default:
      return;
  }
}

void ConnTracker::Parse(const Key& key, Conn& conn, const sock_event_header& h,
                        const uint8_t* data) {
  conn.meta.tid = h.tid;
  FeedData(conn, h, data);
  if (hints_) Hint(key, conn, h.direction == SOCK_DIR_EGRESS ? 1 : 0);
}

template <typename Op>
void ConnTracker::Order(const Key& key, Conn& conn, const Op& op) {
  const bool was_holding = conn.order.holding();
  const SendOrder::Counters before = conn.order.counters();
  const size_t held_before = conn.order.held_bytes();
  // One pointer captured: std::function keeps it inline, no allocation per event.
  struct Target {
    ConnTracker* tracker;
    const Key* key;
    Conn* conn;
  } target{this, &key, &conn};
  op(SendOrder::Feed([t = &target](const sock_event_header& e, const uint8_t* d) {
    t->tracker->Parse(*t->key, *t->conn, e, d);
  }));
  const SendOrder::Counters& after = conn.order.counters();
  counters_.reads_reordered.reordered += after.reordered - before.reordered;
  counters_.reads_reordered.expired += after.expired - before.expired;
  counters_.reads_reordered.overflowed += after.overflowed - before.overflowed;
  held_bytes_ = held_bytes_ - held_before + conn.order.held_bytes();
  if (!was_holding && conn.order.holding()) {
    holding_.push_back({key, conn.gen, conn.order.held_since()});
  }
}

void ConnTracker::ReleaseOldestHolds() {
  // The connections that began holding first give theirs up first (parsed as they came).
  while (held_bytes_ > kMaxHeldBytes && !holding_.empty()) {
    const Holding entry = holding_.front();
    holding_.pop_front();
    auto it = conns_.find(entry.key);
    if (it == conns_.end() || it->second->gen != entry.gen) continue;
    Conn& conn = *it->second;
    Order(entry.key, conn, [&](const SendOrder::Feed& feed) { conn.order.Overflow(feed); });
  }
}

void ConnTracker::FeedData(Conn& conn, const sock_event_header& h, const uint8_t* data) {
  protocols::DataEvent ev;
  ev.direction = h.direction == SOCK_DIR_EGRESS ? protocols::Direction::kEgress
                                                : protocols::Direction::kIngress;
  ev.timestamp_ns = h.ts;
  Sink sink(*this, conn.meta, conn.parser->role());
  // Bytes the kernel did not send (a capture hint, DATA payload between followed HTTP/2 frames)
  // reach the parser as uncaptured bytes of the known size, which it skips as it skips any body
  // beyond the capture limit.
  auto gap = [&](uint64_t bytes) {
    if (bytes == 0) return;
    counters_.bytes_not_copied += bytes;
    protocols::DataEvent g = ev;
    g.size = bytes;
    conn.parser->OnData(g, sink);
  };
  const int dir = h.direction == SOCK_DIR_EGRESS ? 1 : 0;
  Conn::Framed& framed = conn.framed[dir];
  if (h.flags & SOCK_EV_SEGMENT) {
    if (!framed.active || framed.stream_off != h.stream_off || h.captured_from < framed.fed ||
        h.captured_from + h.captured > framed.size) {
      ++counters_.segments_unmatched;
      return;
    }
    ev.timestamp_ns = framed.ts;
    gap(h.captured_from - framed.fed);
    ev.captured = std::span<const uint8_t>(data, h.captured);
    ev.size = h.captured;
    conn.parser->OnData(ev, sink);
    framed.fed = h.captured_from + h.captured;
    if (h.segments == 0) {
      gap(framed.size - framed.fed);
      framed.active = false;
    }
    return;
  }
  if (framed.active) {
    // The call's last SEGMENT events were lost (ring full): what remains reaches the parser as
    // uncaptured bytes, and it resynchronises as after any loss.
    ev.timestamp_ns = framed.ts;
    gap(framed.size - framed.fed);
    framed.active = false;
    ev.timestamp_ns = h.ts;
  }
  if (h.flags & SOCK_EV_STREAM_OFF) {
    // Only a jump inside a range we asked the kernel to skip is bytes it left out. Other jumps
    // are events lost to a full ring, or two threads' calls reported out of order; those are
    // fed as they come, as without hints (a gap there could double-count the late event).
    if (conn.off_known[dir] && h.stream_off > conn.next_off[dir] &&
        h.stream_off <= conn.skip.until[dir]) {
      gap(h.stream_off - conn.next_off[dir]);
    } else if (conn.off_known[dir] && h.stream_off < conn.next_off[dir]) {
      ++counters_.events_late;
    } else if (conn.off_known[dir] && h.stream_off > conn.next_off[dir]) {
      ++counters_.events_after_gap;
    }
    conn.next_off[dir] = std::max<uint64_t>(conn.next_off[dir], h.stream_off + h.size);
    conn.off_known[dir] = true;
  }
  const uint64_t skipped = std::min<uint64_t>(h.captured_from, h.size);
  gap(skipped);
  ev.captured = std::span<const uint8_t>(data, h.captured);
  ev.size = h.size - skipped;
  if ((h.flags & SOCK_EV_H2_FRAMED) && h.segments > 0 && h.captured <= ev.size) {
    // Only the event's own bytes now: the SEGMENT events that follow carry the frame headers
    // and header blocks further on, and the bytes between them are skipped DATA payload.
    framed = {true, h.stream_off, h.size, skipped + h.captured, h.ts};
    ev.size = h.captured;
  }
  // Asked before parsing: bytes that look like a request line inside a body (a proxied or
  // uploaded HTTP message) start no request.
  const bool at_request_boundary = conn.parser->AwaitsHttp1Request();
  conn.parser->OnData(ev, sink);
  if (at_request_boundary && !start_observers_.empty()) NotifyRequestStart(conn, ev, h);
}

void ConnTracker::Hint(const Key& key, Conn& conn, int dir) {
  sock_skip_value want = conn.skip;
  if (conn.parser->ignored()) {
    want.until[0] = want.until[1] = ZT_SOCK_SKIP_ALL;
  } else if (conn.off_known[dir]) {
    const uint64_t body = conn.parser->SkippableBytes(dir ? protocols::Direction::kEgress
                                                          : protocols::Direction::kIngress);
    if (body < kSkipMinBytes) return;
    want.until[dir] = std::max<uint64_t>(want.until[dir], conn.next_off[dir] + body);
  }
  if (want.until[0] == conn.skip.until[0] && want.until[1] == conn.skip.until[1]) return;
  if (conn.hint_failed) return;
  if (!hints_->SetSkip({key.tgid, key.fd, conn.gen}, want)) {
    conn.hint_failed = true;  // the map is full: not retried per event for this connection
    return;
  }
  conn.skip = want;
  conn.hinted = true;
}

void ConnTracker::SweepClosed(uint64_t now_ns) {
  while (!closing_.empty() && closing_.front().ts + kCloseLingerNs <= now_ns) {
    const Closing c = closing_.front();
    closing_.pop_front();
    auto it = conns_.find(c.key);
    if (it != conns_.end() && it->second->gen == c.gen) Close(c.key, c.ts);
  }
}

void ConnTracker::SweepHeld(uint64_t now_ns) {
  while (!holding_.empty() && holding_.front().since + SendOrder::kMaxHoldNs <= now_ns) {
    const Holding entry = holding_.front();
    holding_.pop_front();
    auto it = conns_.find(entry.key);
    if (it == conns_.end() || it->second->gen != entry.gen) continue;
    Conn& conn = *it->second;
    Order(entry.key, conn, [&](const SendOrder::Feed& feed) { conn.order.Expire(now_ns, feed); });
    // Still holding (reads behind the expired ones): checked again later.
    if (conn.order.holding()) holding_.push_back({entry.key, entry.gen, conn.order.held_since()});
  }
}

void ConnTracker::SweepDead(uint64_t now_ns, uint64_t grace_ns) {
  std::vector<Key> dead;
  for (const auto& [key, conn] : conns_) {
    if (now_ns - conn->last_ts > grace_ns && !catalog_.IsAlive(key.tgid)) dead.push_back(key);
  }
  for (const auto& key : dead) Close(key, 0);
}

protocols::ParserCounters ConnTracker::TakeParserCounters() {
  protocols::ParserCounters total = closed_parser_counters_;
  closed_parser_counters_ = {};
  for (auto& [key, conn] : conns_) total.Add(conn->parser->TakeCounters());
  return total;
}

}  // namespace zerotrace
