#include "spans/span_builder.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>

#include "core/clock.h"
#include "core/metric_family.h"
#include "otlp/otlp_file_exporter.h"
#include "otlp/otlp_trace_exporter.h"
#include "process/go_executable.h"
#include "protocols/common/record_labels.h"
#include "protocols/grpc/grpc.h"

namespace zerotrace::tracing {
namespace {

using protocols::Protocol;
using protocols::RequestRecord;
using protocols::Role;

// "::ffff:10.0.0.1" → "10.0.0.1", so both ends of a dual-stack connection name it alike.
std::string NormalizeAddress(const std::string& addr) {
  constexpr std::string_view kMapped = "::ffff:";
  if (addr.size() > kMapped.size() && std::string_view(addr).substr(0, kMapped.size()) == kMapped &&
      addr.find('.') != std::string::npos) {
    return addr.substr(kMapped.size());
  }
  return addr;
}

// Host header → host part ("example.com:8080" → "example.com", "[::1]:80" → "::1"). Anything
// after '/', '?', '#', or before '@' (userinfo) is dropped.
std::string HostOnly(std::string_view host) {
  if (const size_t at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
  if (const size_t cut = host.find_first_of("/?#"); cut != std::string_view::npos) {
    host = host.substr(0, cut);
  }
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    return std::string(
        host.substr(1, close == std::string_view::npos ? host.size() - 1 : close - 1));
  }
  if (const size_t colon = host.find(':');
      colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return std::string(host);
}

// Defensive: the parsers already strip the query string; never let one through.
std::string_view StripQuery(std::string_view path) {
  const size_t cut = path.find_first_of("?#");
  return cut == std::string_view::npos ? path : path.substr(0, cut);
}

std::string ProtocolVersion(const RequestRecord& r) {
  if (r.protocol == Protocol::kHttp2 || r.protocol == Protocol::kGrpc) return "2";
  std::string_view v = r.version;
  if (v.substr(0, 5) == "HTTP/") v.remove_prefix(5);
  return std::string(v);
}

bool IsGrpc(const RequestRecord& r) {
  return r.protocol == Protocol::kGrpc || !r.rpc_service.empty() || !r.rpc_method.empty();
}

// OTel semconv (gRPC): on server spans only these codes are errors; on clients every non-OK.
bool GrpcServerError(int code) {
  return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
}

std::string DefaultHostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return {};
  return buf;
}
}  // namespace

SpanBuilder::SpanBuilder(ProcessCatalog* catalog, SpanSink sink, SpanBuilderOptions options,
                         prometheus::Registry* registry, ClockSource clock,
                         std::unique_ptr<IdGenerator> ids)
    : catalog_(catalog),
      sink_(std::move(sink)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      ids_(ids ? std::move(ids) : std::make_unique<IdGenerator>()),
      sampler_(options_.sampler),
      threads_(options_.thread_context),
      host_name_(options_.host_name.empty() ? DefaultHostName() : options_.host_name) {
  clock_.Refresh();
  if (registry != nullptr) {
    auto& built = CounterFamily(*registry, "zerotrace_spans_built_total");
    built_server_ = &built.Add({{"kind", "server"}});
    built_client_ = &built.Add({{"kind", "client"}});
    sampled_out_ = &CounterFamily(*registry, "zerotrace_spans_sampled_out_total").Add({});
  }
}

SpanBuilder::~SpanBuilder() = default;

std::string SpanBuilder::ConnKey(const ConnMeta& conn, uint64_t start_ns) {
  return std::to_string(conn.tgid) + "|" +
         TupleKey(conn.local_addr, conn.local_port, conn.remote_addr, conn.remote_port) + "|" +
         std::to_string(start_ns);
}

std::string SpanBuilder::TupleKey(const std::string& local_addr, uint16_t local_port,
                                  const std::string& remote_addr, uint16_t remote_port) {
  return NormalizeAddress(local_addr) + "#" + std::to_string(local_port) + ">" +
         NormalizeAddress(remote_addr) + "#" + std::to_string(remote_port);
}

SpanBuilder::Open SpanBuilder::AllocateServer(uint32_t tgid, uint32_t tid,
                                              const RequestStart& start, const ConnMeta& conn) {
  const uint64_t start_ns = start.start_ns;
  std::optional<SpanContext> incoming = ParseTraceParent(start.traceparent, start.tracestate);
  if (incoming && !incoming->IsValid()) incoming.reset();
  // Propagation: the trace the kernel gave this request, which the thread's calls carry on the
  // wire: its own (it carried none), or the incoming one (the kernel parsed the same header).
  if (start.kernel_trace_id) {
    kernel_traces_[static_cast<uint64_t>(tgid) << 32 | tid] = {start_ns, *start.kernel_trace_id};
  } else if (incoming) {
    kernel_traces_[static_cast<uint64_t>(tgid) << 32 | tid] = {start_ns, incoming->trace_id};
  }
  std::optional<TraceId> new_trace;
  if (start.kernel_trace_id && IsValid(*start.kernel_trace_id)) new_trace = start.kernel_trace_id;
  // The other end of this connection, if it is a client request this collector saw start.
  const auto peer = clients_by_tuple_.find(
      TupleKey(conn.remote_addr, conn.remote_port, conn.local_addr, conn.local_port));
  if (peer != clients_by_tuple_.end() &&
      (!incoming || incoming->trace_id == peer->second.context.trace_id)) {
    // The local client span is the more precise parent (the header, if any, names the same
    // trace: a forwarded header or the caller's own span around our client span).
    if (new_trace) {
      // Propagation: this thread's calls carry the kernel's trace; the client joins it if it can.
      auto c = open_.find(peer->second.key);
      if (c != open_.end() && JoinKernelTrace(c->second, new_trace)) {
        peer->second.context = c->second.context;
      }
    }
    SpanContext ctx = peer->second.context;
    if (incoming) ctx.trace_state = incoming->trace_state;
    incoming = ctx;
  }
  ServingLocked(tgid);
  const ServerSpanHandle handle = threads_.BeginServerSpan(
      tgid, tid, start_ns, incoming, *ids_,
      ConnId(TupleKey(conn.local_addr, conn.local_port, conn.remote_addr, conn.remote_port)),
      new_trace ? &*new_trace : nullptr);
  Open open;
  open.context = handle.context;
  open.parent = handle.parent_span_id;
  open.start_ns = start_ns;
  open.tgid = tgid;
  open.start_tid = tid;
  open.server = true;
  open.kernel_trace = new_trace;
  if (open.parent) server_parents_[ToHex(open.context.span_id)] = *open.parent;
  return open;
}

namespace {

void PutBigEndian(uint64_t v, uint8_t* out) {
  for (int k = 7; k >= 0; --k, v >>= 8) out[k] = static_cast<uint8_t>(v & 0xff);
}

}  // namespace

SpanBuilder::Open SpanBuilder::AllocateInjectedClient(uint32_t tgid, uint32_t tid,
                                                      const RequestStart& start) {
  const RequestStart::Injected& inj = *start.injected;
  Open open;
  open.start_ns = start.start_ns;
  open.tgid = tgid;
  open.start_tid = tid;
  open.server = false;
  open.wire_ids = true;
  open.context.trace_flags = kTraceFlagSampled;
  PutBigEndian(inj.span_id, open.context.span_id.data());
  const char* no_thread_links = NoThreadLinksLocked(tgid, tid);
  const std::optional<SpanContext> thread_parent =
      no_thread_links ? std::nullopt : threads_.FindParent(tgid, tid, start.start_ns);
  if (inj.thread_trace) {
    const auto known = kernel_traces_.find(static_cast<uint64_t>(tgid) << 32 | tid);
    if (known != kernel_traces_.end() && known->second.first == inj.aux) {
      open.context.trace_id = known->second.second;
      ++counters_.propagated_thread;
    } else {
      // Its server read was not reported as a request start: the trace on the wire is unknown
      // here. A new one keeps this span out of any other request's trace.
      open.context.trace_id = ids_->NewTraceId();
      ++counters_.propagated_trace_unknown;
    }
  } else {
    PutBigEndian(inj.aux, open.context.trace_id.data());
    PutBigEndian(inj.span_id, open.context.trace_id.data() + 8);
    ++counters_.propagated_new;
  }
  // The wire decides the trace; a parent only where it is that same trace (the kernel's view of
  // the thread and ours agree) and our rules name it.
  if (thread_parent && thread_parent->trace_id == open.context.trace_id) {
    open.parent = thread_parent->span_id;
    open.context.trace_state = thread_parent->trace_state;
  } else if (no_thread_links) {
    open.parent_not_inferred = no_thread_links;
  } else if (thread_parent) {
    open.parent_not_inferred = kNewTraceOnWire;
  }
  return open;
}

SpanBuilder::Open SpanBuilder::AllocateClient(uint32_t tgid, uint32_t tid,
                                              const RequestStart& start) {
  if (start.injected) return AllocateInjectedClient(tgid, tid, start);
  const uint64_t start_ns = start.start_ns;
  const std::string_view traceparent = start.traceparent;
  const std::string_view tracestate = start.tracestate;
  Open open;
  open.start_ns = start_ns;
  open.tgid = tgid;
  open.start_tid = tid;
  open.server = false;
  open.parent_not_inferred = NoThreadLinksLocked(tgid, tid);
  const std::optional<SpanContext> thread_parent =
      open.parent_not_inferred ? std::nullopt : threads_.FindParent(tgid, tid, start_ns);
  std::optional<SpanContext> header = ParseTraceParent(traceparent, tracestate);
  if (header && !header->IsValid()) header.reset();
  if (header && thread_parent && header->trace_id == thread_parent->trace_id) {
    // A header forwarded unchanged from the inbound request (or naming the server span
    // itself) says nothing new: the thread's server span is the parent.
    const auto p = server_parents_.find(ToHex(thread_parent->span_id));
    const bool forwarded = header->span_id == thread_parent->span_id ||
                           (p != server_parents_.end() && p->second == header->span_id);
    if (forwarded) header.reset();
  }
  if (header) {
    // The application propagates context itself: the header names the caller-side span this
    // request belongs to (its own client span, when instrumented), our parent.
    open.context.trace_id = header->trace_id;
    open.context.trace_flags = header->trace_flags;
    open.context.trace_state = header->trace_state;
    open.parent = header->span_id;
  } else if (thread_parent) {
    open.context.trace_id = thread_parent->trace_id;
    open.context.trace_flags = thread_parent->trace_flags;
    open.context.trace_state = thread_parent->trace_state;
    open.parent = thread_parent->span_id;
  } else {
    open.context.trace_id = ids_->NewTraceId();
    open.context.trace_flags = kTraceFlagSampled;
  }
  open.context.span_id = ids_->NewSpanId();
  return open;
}

uint64_t SpanBuilder::ConnId(const std::string& tuple) {
  const uint64_t h = std::hash<std::string>{}(tuple);
  return h ? h : 1;  // 0 means "unknown connection"
}

SpanBuilder::ServingProcess& SpanBuilder::ServingLocked(uint32_t tgid) {
  ServingProcess& p = serving_[tgid];
  if (!p.checked_runtime) {
    p.checked_runtime = true;
    // Once per serving process: one read of its executable's section headers.
    if (catalog_ != nullptr &&
        IsGoExecutable(catalog_->proc_root() + "/" + std::to_string(tgid) + "/exe")) {
      p.no_thread_links = kGoRuntime;
    }
    TellThreadLinks(tgid, p.no_thread_links == nullptr);
  }
  return p;
}

void SpanBuilder::TellThreadLinks(uint32_t tgid, bool allowed) const {
  if (options_.thread_links_verdict) options_.thread_links_verdict(tgid, allowed);
}

const char* SpanBuilder::NoThreadLinksLocked(uint32_t tgid, uint32_t tid) {
  const auto p = serving_.find(tgid);
  if (p == serving_.end()) return nullptr;  // serves nothing: no parent to infer, no doubt
  if (p->second.no_thread_links) return p->second.no_thread_links;
  return threads_.ServesConcurrently(tgid, tid) ? kConcurrentThread : nullptr;
}

void SpanBuilder::OnLost(protocols::Protocol protocol, protocols::Role role,
                         protocols::LossReason reason, uint64_t requests, const ConnMeta& conn) {
  (void)protocol;
  (void)reason;
  (void)requests;
  if (role != Role::kServer) return;
  std::lock_guard lock(mu_);
  // A request announced at its start and then lost (its connection closed first) must end, or
  // its thread would look like one serving two requests at once from its next request on.
  const auto sv = servers_by_tuple_.find(
      TupleKey(conn.local_addr, conn.local_port, conn.remote_addr, conn.remote_port));
  if (sv == servers_by_tuple_.end()) return;
  const auto it = open_.find(sv->second);
  if (it == open_.end() || !it->second.server) return;
  threads_.EndServerSpan(conn.tgid, it->second.start_tid, it->second.context.span_id,
                         it->second.start_ns);
  ForgetOpenLocked(sv->second);
}

void SpanBuilder::OnRequestStart(const RequestStart& start, const ConnMeta& conn) {
  if (start.role != Role::kServer && start.role != Role::kClient) return;
  std::lock_guard lock(mu_);
  MaybeMaintainLocked(start.start_ns);
  BuildDueLocked(start.start_ns);
  ++counters_.request_starts;
  const std::string key = ConnKey(conn, start.start_ns);
  if (open_.count(key) != 0) return;
  if (open_.size() >= options_.max_open_requests) {
    // Forget the oldest start to make room.
    auto oldest = open_by_start_.begin();
    if (oldest != open_by_start_.end()) {
      ++counters_.open_dropped;
      ForgetOpenLocked(oldest->second);
    }
  }
  Open open = start.role == Role::kServer ? AllocateServer(conn.tgid, conn.tid, start, conn)
                                          : AllocateClient(conn.tgid, conn.tid, start);
  const std::string tuple =
      TupleKey(conn.local_addr, conn.local_port, conn.remote_addr, conn.remote_port);
  if (open.server) {
    servers_by_tuple_[tuple] = key;
  } else {
    NoteClientLocked(conn);
    AdoptEarlyPeerLocked(conn, open);
    AdoptDeferredLocked(conn, open);
    clients_by_tuple_[tuple] = PeerClient{open.context, key};
  }
  open_by_start_.emplace(start.start_ns, key);
  open_.emplace(key, std::move(open));
}

bool SpanBuilder::JoinKernelTrace(Open& client, const std::optional<TraceId>& kernel_trace) {
  if (!kernel_trace || client.server || client.parent || client.wire_ids) return false;
  client.context.trace_id = *kernel_trace;
  return true;
}

void SpanBuilder::AdoptEarlyPeerLocked(const ConnMeta& client_conn, Open& client) {
  const auto peer =
      servers_by_tuple_.find(TupleKey(client_conn.remote_addr, client_conn.remote_port,
                                      client_conn.local_addr, client_conn.local_port));
  if (peer == servers_by_tuple_.end()) return;
  auto it = open_.find(peer->second);
  if (it == open_.end()) return;
  Open& server = it->second;
  const uint64_t window = options_.peer_race_window_ns;
  if (server.parent || server.start_ns + window < client.start_ns ||
      client.start_ns + window < server.start_ns) {
    return;
  }
  if (JoinKernelTrace(client, server.kernel_trace)) {
    // Propagation: the client joins the trace the server's calls carry; the server keeps its
    // ids and gains its parent.
    server.parent = client.context.span_id;
    server_parents_[ToHex(server.context.span_id)] = *server.parent;
    ++counters_.relinked;
    return;
  }
  // Re-begin the server span as the client's child (its old ids were never handed out: the
  // server could not have completed or made calls of its own within the race window).
  SpanContext parent = client.context;
  threads_.ForgetServerSpan(server.tgid, server.start_tid, server.context.span_id);
  const ServerSpanHandle handle = threads_.BeginServerSpan(
      server.tgid, server.start_tid, server.start_ns, parent, *ids_, ConnId(peer->first));
  server.context = handle.context;
  server.parent = handle.parent_span_id;
  if (server.parent) server_parents_[ToHex(server.context.span_id)] = *server.parent;
  ++counters_.relinked;
}

void SpanBuilder::ForgetOpenLocked(const std::string& key) {
  auto it = open_.find(key);
  if (it == open_.end()) return;
  const Open& open = it->second;
  auto range = open_by_start_.equal_range(open.start_ns);
  for (auto r = range.first; r != range.second; ++r) {
    if (r->second == key) {
      open_by_start_.erase(r);
      break;
    }
  }
  // key = tgid|tuple|start
  const size_t a = key.find('|');
  const size_t b = key.rfind('|');
  const std::string tuple = key.substr(a + 1, b - a - 1);
  if (open.server) {
    server_parents_.erase(ToHex(open.context.span_id));
    auto sv = servers_by_tuple_.find(tuple);
    if (sv != servers_by_tuple_.end() && sv->second == key) servers_by_tuple_.erase(sv);
  } else {
    auto c = clients_by_tuple_.find(tuple);
    if (c != clients_by_tuple_.end() && c->second.context.span_id == open.context.span_id) {
      clients_by_tuple_.erase(c);
    }
  }
  open_.erase(it);
}

void SpanBuilder::OnRequest(const RequestRecord& record, const ConnMeta& conn) {
  if (record.role != Role::kServer && record.role != Role::kClient) return;
  std::lock_guard lock(mu_);
  const uint64_t event_ns = std::max(record.end_ns, record.start_ns);
  MaybeMaintainLocked(event_ns);
  BuildDueLocked(event_ns);
  const bool server = record.role == Role::kServer;
  const std::string key = ConnKey(conn, record.start_ns);
  if (record.method.empty() && !IsGrpc(record)) {
    ++counters_.unparsed_skipped;
    // No span, but a request that was announced at its start must not stay open: its thread
    // would keep parenting later client calls to a span that is never exported.
    if (auto it = open_.find(key); it != open_.end() && it->second.server == server) {
      if (server) {
        threads_.EndServerSpan(conn.tgid, it->second.start_tid, it->second.context.span_id,
                               std::max(record.end_ns, record.start_ns));
      }
      ForgetOpenLocked(key);
    }
    return;
  }
  Open open;
  auto it = open_.find(key);
  if (it != open_.end() && it->second.server == server) {
    open = it->second;
    ForgetOpenLocked(key);
  } else {
    ++counters_.without_start;
    // Ids made at completion (no start seen: HTTP/2, gRPC, missed bytes), from the record's
    // own trace headers.
    RequestStart late;
    late.protocol = record.protocol;
    late.role = record.role;
    late.start_ns = record.start_ns;
    late.traceparent = record.traceparent;
    late.tracestate = record.tracestate;
    open = server ? AllocateServer(conn.tgid, conn.tid, late, conn)
                  : AllocateClient(conn.tgid, conn.tid, late);
    if (open.server) server_parents_.erase(ToHex(open.context.span_id));
    if (!server) {
      NoteClientLocked(conn);
      if (record.protocol == Protocol::kHttp1) AdoptDeferredLocked(conn, open);
    }
  }
  if (server) {
    threads_.EndServerSpan(conn.tgid, open.start_tid, open.context.span_id,
                           std::max(record.end_ns, record.start_ns));
    // Read on one thread, answered on another: this process hands requests between threads
    // (goroutines, work-stealing tasks), and a thread's calls cannot name their request.
    ServingProcess& p = ServingLocked(conn.tgid);
    if (!p.no_thread_links && conn.tid != 0 && open.start_tid != 0 && conn.tid != open.start_tid) {
      p.no_thread_links = kRequestsMoveThreads;
      TellThreadLinks(conn.tgid, false);
    }
    // HTTP/1 only: one request at a time per connection, so the next client request on the
    // mirrored connection is this one's. HTTP/2 multiplexes streams on a connection: a client
    // stream reported next may be another request's (a wrong parent, never risked).
    if (!open.parent && record.protocol == Protocol::kHttp1 && PeerMayBeLocalLocked(conn)) {
      DeferLocked(record, conn, open);
      return;
    }
  }
  Build(record, conn, open);
}

bool SpanBuilder::PeerMayBeLocalLocked(const ConnMeta& server_conn) const {
  const std::string remote = NormalizeAddress(server_conn.remote_addr);
  if (remote.empty()) return false;
  return remote.rfind("127.", 0) == 0 || remote == "::1" ||
         remote == NormalizeAddress(server_conn.local_addr) || client_addrs_.count(remote) != 0;
}

void SpanBuilder::NoteClientLocked(const ConnMeta& client_conn) {
  // A node's own addresses (its pods' included) are few; a bound keeps a hostile peer set from
  // growing it (forgetting them only costs late links for a while).
  if (client_addrs_.size() >= 4096) client_addrs_.clear();
  client_addrs_.insert(NormalizeAddress(client_conn.local_addr));
}

void SpanBuilder::DeferLocked(const RequestRecord& record, const ConnMeta& conn, const Open& open) {
  const std::string client_tuple =
      TupleKey(conn.remote_addr, conn.remote_port, conn.local_addr, conn.local_port);
  // The connection's previous request still waiting lost its client: it goes as it is.
  if (deferred_.count(client_tuple) != 0) BuildDeferredLocked(client_tuple);
  if (deferred_.size() >= options_.max_deferred_server_spans && !deferred_by_due_.empty()) {
    BuildDeferredLocked(deferred_by_due_.begin()->second);
  }
  Deferred d{record, conn, open,
             std::max(record.end_ns, record.start_ns) + options_.peer_race_window_ns};
  deferred_by_due_.emplace(d.due_ns, client_tuple);
  deferred_.emplace(client_tuple, std::move(d));
  ++counters_.deferred;
}

void SpanBuilder::AdoptDeferredLocked(const ConnMeta& client_conn, Open& client) {
  const std::string tuple = TupleKey(client_conn.local_addr, client_conn.local_port,
                                     client_conn.remote_addr, client_conn.remote_port);
  auto it = deferred_.find(tuple);
  if (it == deferred_.end()) return;
  Deferred& d = it->second;
  const uint64_t window = options_.peer_race_window_ns;
  // The client's write returned after the server read it (else the server span would have its
  // parent): its start lies after the server's, within the race window of the server's end.
  if (client.start_ns + window < d.open.start_ns || client.start_ns > d.due_ns) return;
  if (JoinKernelTrace(client, d.open.kernel_trace)) {
    d.open.parent = client.context.span_id;
    ++counters_.late_relinked;
  } else if (threads_.Rejoin(d.open.tgid, d.open.start_tid, d.open.context.span_id,
                             client.context)) {
    d.open.context.trace_id = client.context.trace_id;
    d.open.context.trace_flags = client.context.trace_flags;
    d.open.context.trace_state = client.context.trace_state;
    d.open.parent = client.context.span_id;
    ++counters_.late_relinked;
  }
  BuildDeferredLocked(tuple);
}

void SpanBuilder::BuildDeferredLocked(const std::string& client_tuple) {
  auto it = deferred_.find(client_tuple);
  if (it == deferred_.end()) return;
  auto range = deferred_by_due_.equal_range(it->second.due_ns);
  for (auto r = range.first; r != range.second; ++r) {
    if (r->second == client_tuple) {
      deferred_by_due_.erase(r);
      break;
    }
  }
  Deferred d = std::move(it->second);
  deferred_.erase(it);
  Build(d.record, d.conn, d.open);
}

void SpanBuilder::BuildDueLocked(uint64_t event_ns) {
  event_watermark_ns_ = std::max(event_watermark_ns_, event_ns);
  while (!deferred_by_due_.empty() && deferred_by_due_.begin()->first < event_watermark_ns_) {
    BuildDeferredLocked(deferred_by_due_.begin()->second);
  }
}

void SpanBuilder::Tick(uint64_t now_ns) {
  std::lock_guard lock(mu_);
  while (!deferred_by_due_.empty() &&
         deferred_by_due_.begin()->first + options_.deferred_idle_grace_ns < now_ns) {
    BuildDeferredLocked(deferred_by_due_.begin()->second);
  }
}

void SpanBuilder::FlushDeferred() {
  std::lock_guard lock(mu_);
  while (!deferred_by_due_.empty()) BuildDeferredLocked(deferred_by_due_.begin()->second);
}

void SpanBuilder::Build(const RequestRecord& r, const ConnMeta& conn, const Open& open) {
  const bool server = r.role == Role::kServer;
  Span span;
  span.trace_id = open.context.trace_id;
  span.span_id = open.context.span_id;
  span.parent_span_id = open.parent;
  span.trace_state = open.context.trace_state;
  span.trace_flags = open.context.trace_flags;
  span.kind = server ? SpanKind::kServer : SpanKind::kClient;
  span.start_unix_ns = clock_.MonotonicToUnixNs(r.start_ns);
  span.end_unix_ns = clock_.MonotonicToUnixNs(std::max(r.end_ns, r.start_ns));
  span.resource = ResourceFor(conn);

  auto& a = span.attributes;
  const std::string local = NormalizeAddress(conn.local_addr);
  const std::string remote = NormalizeAddress(conn.remote_addr);
  const std::string host = HostOnly(r.host);
  if (server) {
    a.Set("server.address", host.empty() ? local : host);
    a.Set("server.port", static_cast<int64_t>(conn.local_port));
    if (!remote.empty()) a.Set("client.address", remote);
    if (conn.remote_port) a.Set("client.port", static_cast<int64_t>(conn.remote_port));
  } else {
    a.Set("server.address", host.empty() ? remote : host);
    a.Set("server.port", static_cast<int64_t>(conn.remote_port));
  }
  if (!remote.empty()) a.Set("network.peer.address", remote);
  if (conn.remote_port) a.Set("network.peer.port", static_cast<int64_t>(conn.remote_port));
  const std::string version = ProtocolVersion(r);
  if (!version.empty()) a.Set("network.protocol.version", version);

  if (IsGrpc(r)) {
    span.name = r.rpc_service.empty() && r.rpc_method.empty() ? std::string(StripQuery(r.path))
                                                              : r.rpc_service + "/" + r.rpc_method;
    a.Set("rpc.system", "grpc");
    if (!r.rpc_service.empty()) a.Set("rpc.service", r.rpc_service);
    if (!r.rpc_method.empty()) a.Set("rpc.method", r.rpc_method);
    if (r.grpc_status >= 0) {
      a.Set("rpc.grpc.status_code", static_cast<int64_t>(r.grpc_status));
      const bool error = server ? GrpcServerError(r.grpc_status) : r.grpc_status != 0;
      if (error) {
        span.status = {StatusCode::kError,
                       "gRPC status " + protocols::GrpcStatusName(r.grpc_status)};
        a.Set("error.type", protocols::GrpcStatusName(r.grpc_status));
      }
    } else if (r.reset) {
      span.status = {StatusCode::kError, "stream reset"};
      a.Set("error.type", "stream_reset");
    }
  } else {
    const bool known = protocols::IsKnownHttpMethod(r.method);
    const std::string method = known ? r.method : "_OTHER";
    a.Set("http.request.method", method);
    if (!known) a.Set("http.request.method_original", r.method);
    const std::string_view path = StripQuery(r.path);
    if (!path.empty()) a.Set("url.path", path);
    const std::string_view route = StripQuery(r.route);
    if (!route.empty()) a.Set("http.route", route);
    if (r.status_code > 0) {
      a.Set("http.response.status_code", static_cast<int64_t>(r.status_code));
    }
    span.name = (known ? r.method : std::string("HTTP")) +
                (route.empty() ? std::string() : " " + std::string(route));
    const bool error = r.status_code >= (server ? 500 : 400);
    if (error) {
      span.status = {StatusCode::kError, ""};
      a.Set("error.type", std::to_string(r.status_code));
    } else if (r.reset) {
      span.status = {StatusCode::kError, "stream reset"};
      a.Set("error.type", "stream_reset");
    }
  }

  if (server) {
    if (const char* why = NoThreadLinksLocked(conn.tgid, open.start_tid)) {
      a.Set("zerotrace.children.not_inferred", why);
    }
  } else if (open.parent_not_inferred) {
    a.Set("zerotrace.parent.not_inferred", open.parent_not_inferred);
    ++counters_.parents_not_inferred;
  }
  if (server) {
    ++counters_.server_spans;
    if (built_server_) built_server_->Increment();
  } else {
    ++counters_.client_spans;
    if (built_client_) built_client_->Increment();
  }
  if (!sampler_.Decide(span).keep) {
    ++counters_.sampled_out;
    if (sampled_out_) sampled_out_->Increment();
    return;
  }
  if (sink_) sink_(std::move(span));
}

void SpanBuilder::OnGpuKernel(const GpuKernelRun& run) {
  std::lock_guard lock(mu_);
  auto parent = threads_.FindParent(run.tgid, run.launch_tid, run.launch_ns);
  if (!parent) {
    ++counters_.gpu_kernels_unparented;
    return;
  }
  Span span;
  span.trace_id = parent->trace_id;
  span.span_id = ids_->NewSpanId();
  span.parent_span_id = parent->span_id;
  span.trace_state = parent->trace_state;
  span.name = "gpu kernel " + run.kernel;
  span.kind = SpanKind::kInternal;
  span.start_unix_ns = clock_.MonotonicToUnixNs(run.start_ns);
  span.end_unix_ns = clock_.MonotonicToUnixNs(std::max(run.end_ns, run.start_ns));
  ConnMeta owner;
  owner.tgid = run.tgid;
  owner.service = run.service;
  span.resource = ResourceFor(owner);
  auto& a = span.attributes;
  a.Set("gpu.kernel.name", run.kernel);
  a.Set("gpu.device.id", static_cast<int64_t>(run.device));
  a.Set("gpu.stream.id", static_cast<int64_t>(run.stream));
  a.Set("cuda.correlation_id", static_cast<int64_t>(run.correlation_id));
  a.Set("thread.id", static_cast<int64_t>(run.launch_tid));
  ++counters_.gpu_kernel_spans;
  // The request's own sampling decision is made later, when it completes; kernels follow the
  // trace's head ratio so a kept trace keeps its kernels.
  if (!sampler_.SampledByRatio(span.trace_id)) {
    ++counters_.sampled_out;
    return;
  }
  if (sink_) sink_(std::move(span));
}

std::shared_ptr<const Resource> SpanBuilder::ResourceFor(const ConnMeta& conn) {
  auto it = resources_.find(conn.tgid);
  if (it != resources_.end()) return it->second;
  std::string service = conn.service;
  std::string exe;
  if (catalog_ != nullptr) {
    if (auto info = catalog_->Lookup(conn.tgid)) {
      if (!info->service_name.empty()) service = info->service_name;
      exe = info->exe_name.empty() ? info->comm : info->exe_name;
    }
  }
  Resource r = Resource::ForProcess(service, host_name_, static_cast<int64_t>(conn.tgid), exe);
  // k8s_pod_name → k8s.pod.name, k8s_namespace_name → k8s.namespace.name, ...
  for (const auto& [label, value] : conn.k8s) {
    if (label.rfind("k8s_", 0) != 0) continue;
    std::string suffix = label.substr(4);
    std::replace(suffix.begin(), suffix.end(), '_', '.');
    r.SetK8s(suffix, value);
  }
  auto resource = std::make_shared<const Resource>(std::move(r));
  resources_.emplace(conn.tgid, resource);
  return resource;
}

void SpanBuilder::MaybeMaintainLocked(uint64_t now_ns) {
  if (now_ns >= last_maintenance_ns_ + options_.maintenance_interval_ns) MaintainLocked(now_ns);
}

void SpanBuilder::Maintain(uint64_t now_ns) {
  std::lock_guard lock(mu_);
  MaintainLocked(now_ns);
}

void SpanBuilder::MaintainLocked(uint64_t now_ns) {
  last_maintenance_ns_ = now_ns;
  threads_.Expire(now_ns);
  while (!open_by_start_.empty() &&
         open_by_start_.begin()->first + options_.open_request_timeout_ns < now_ns) {
    ++counters_.open_dropped;
    ForgetOpenLocked(open_by_start_.begin()->second);
  }
  if (catalog_ != nullptr) {
    for (auto it = resources_.begin(); it != resources_.end();) {
      if (!catalog_->IsAlive(it->first)) {
        threads_.ForgetProcess(it->first);
        it = resources_.erase(it);
      } else {
        ++it;
      }
    }
    std::erase_if(serving_, [&](const auto& kv) {
      if (catalog_->IsAlive(kv.first)) return false;
      TellThreadLinks(kv.first, false);
      return true;
    });
    std::erase_if(kernel_traces_, [&](const auto& kv) {
      return !catalog_->IsAlive(static_cast<uint32_t>(kv.first >> 32));
    });
  }
  if (now_ns >= last_clock_refresh_ns_ + options_.clock_refresh_interval_ns) {
    last_clock_refresh_ns_ = now_ns;
    clock_.Refresh();
  }
}

SpanBuilderCounters SpanBuilder::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

size_t SpanBuilder::open_requests() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

// ---- SpanPipeline ----

Result<std::unique_ptr<SpanPipeline>> SpanPipeline::Create(
    ProcessCatalog& catalog, prometheus::Registry* registry,
    const otlp::OtlpExporterOptions& exporter, const SpanBuilderOptions& options) {
  if (!exporter.Enabled()) {
    return Error{
        "no OTLP endpoint configured (OTEL_EXPORTER_OTLP_ENDPOINT or "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)"};
  }
  std::unique_ptr<SpanPipeline> p(new SpanPipeline());
  Resource fallback = Resource::ForProcess(
      exporter.service_name.empty() ? "unknown_service" : exporter.service_name, "", 0, "");
  p->otlp_ = std::make_unique<otlp::OtlpTraceExporter>(exporter, std::move(fallback), registry);
  SpanPipeline* raw = p.get();
  p->builder_ = std::make_unique<SpanBuilder>(
      &catalog, [raw](Span span) { raw->OnSpan(std::move(span)); }, options, registry);
  p->StartTicker();
  return p;
}

Result<std::unique_ptr<SpanPipeline>> SpanPipeline::CreateFile(ProcessCatalog& catalog,
                                                               const std::string& path,
                                                               const SpanBuilderOptions& options) {
  auto file = otlp::OtlpFileExporter::Open(path);
  if (!file.ok()) return Error{"--spans " + path + ": " + file.error().message};
  std::unique_ptr<SpanPipeline> p(new SpanPipeline());
  p->file_ = std::move(file.value());
  SpanPipeline* raw = p.get();
  p->builder_ = std::make_unique<SpanBuilder>(
      &catalog, [raw](Span span) { raw->OnSpan(std::move(span)); }, options, nullptr);
  p->StartTicker();
  return p;
}

SpanPipeline::~SpanPipeline() { Shutdown(); }

void SpanPipeline::StartTicker() {
  ticker_ = std::thread([this] {
    std::unique_lock lock(ticker_mu_);
    while (
        !ticker_cv_.wait_for(lock, std::chrono::milliseconds(250), [&] { return ticker_stop_; })) {
      lock.unlock();
      builder_->Tick(MonotonicNs());
      lock.lock();
    }
  });
}

void SpanPipeline::StopTicker() {
  {
    std::lock_guard lock(ticker_mu_);
    ticker_stop_ = true;
  }
  ticker_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void SpanPipeline::OnSpan(Span span) {
  if (otlp_) {
    otlp_->Export(std::move(span));
    return;
  }
  std::lock_guard lock(file_mu_);
  if (shut_down_) return;
  file_batch_.push_back(std::move(span));
  if (file_batch_.size() >= 256) WriteFileBatchLocked();
}

void SpanPipeline::WriteFileBatchLocked() {
  if (!file_ || file_batch_.empty()) return;
  (void)file_->Export(file_batch_);
  (void)file_->Flush();
  file_batch_.clear();
}

bool SpanPipeline::Flush(std::chrono::milliseconds timeout) {
  if (otlp_) return otlp_->ForceFlush(timeout);
  std::lock_guard lock(file_mu_);
  WriteFileBatchLocked();
  return true;
}

void SpanPipeline::Shutdown() {
  StopTicker();
  if (builder_) builder_->FlushDeferred();
  if (otlp_) {
    otlp_->Shutdown();
    return;
  }
  std::lock_guard lock(file_mu_);
  if (shut_down_) return;
  WriteFileBatchLocked();
  shut_down_ = true;
}

}  // namespace zerotrace::tracing
