#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aggregators/conn_tracker.h"
#include "core/gpu_kernel_run.h"
#include "core/result.h"
#include "otlp/otlp_options.h"
#include "process/process_catalog.h"
#include "protocols/common/request_record.h"
#include "tracing/clock_converter.h"
#include "tracing/id_generator.h"
#include "tracing/sampler.h"
#include "tracing/span.h"
#include "tracing/thread_span_context.h"
#include "tracing/trace_context.h"

namespace prometheus {
class Registry;
class Counter;
}  // namespace prometheus

namespace zerotrace::otlp {
class OtlpTraceExporter;
class OtlpFileExporter;
}  // namespace zerotrace::otlp

namespace zerotrace::tracing {

struct SpanBuilderOptions {
  SamplerOptions sampler;
  ThreadSpanContextOptions thread_context;
  std::string host_name;             // host.name; empty = gethostname()
  size_t max_open_requests = 65536;  // requests started but not completed, remembered
  uint64_t open_request_timeout_ns = 300'000'000'000ULL;   // forgotten after this
  uint64_t maintenance_interval_ns = 1'000'000'000ULL;     // expiry / process sweep
  uint64_t clock_refresh_interval_ns = 60'000'000'000ULL;  // ClockConverter::Refresh
  // A server request may be seen starting a little before the client request that sent it
  // (both timestamps are syscall exits on different CPUs); within this window, a client start
  // adopts the still-parentless server request on the mirrored connection as its child.
  uint64_t peer_race_window_ns = 100'000'000ULL;
  // A server request from a peer on this host that completes with no parent waits up to
  // peer_race_window_ns (in event time) for its client's start, which may be reported after
  // the whole server request: the client's thread can be preempted between copying its request
  // and its syscall's exit for longer than the server takes to answer. At most this many wait.
  size_t max_deferred_server_spans = 4096;
  // traceparent propagation (PropagationProbe): told whether a serving process's threads name
  // the request they serve, as soon as that is known and whenever it changes (false also when
  // the process is gone). Only then does the kernel put a thread's calls in its request's trace.
  std::function<void(uint32_t tgid, bool allowed)> thread_links_verdict;
  // Without newer events, a waiting span is built this long after its window ended (wall clock:
  // Tick), so the export of an idle host's last requests is late by at most about this.
  uint64_t deferred_idle_grace_ns = 500'000'000ULL;
};

struct SpanBuilderCounters {
  uint64_t server_spans = 0;  // built (before sampling)
  uint64_t client_spans = 0;
  uint64_t sampled_out = 0;       // built but dropped by the sampler
  uint64_t request_starts = 0;    // RequestStart notifications
  uint64_t without_start = 0;     // records completed with no matching start (ids made late)
  uint64_t open_dropped = 0;      // starts forgotten (bound reached or never completed)
  uint64_t unparsed_skipped = 0;  // records with no method/rpc (nothing to name a span after)
  uint64_t relinked = 0;          // server starts seen before their peer's client start
  uint64_t late_relinked = 0;     // server requests completed before their peer's client start
  uint64_t deferred = 0;          // server spans held for a late client start (see options)
  uint64_t gpu_kernel_spans = 0;  // GPU kernels that ran for a request (INTERNAL spans)
  uint64_t gpu_kernels_unparented = 0;  // launched while the thread served no known request
  // Client calls made by a process that serves requests, left without a parent because their
  // thread cannot name the request (see SpanBuilder::kConcurrentThread and the others).
  uint64_t parents_not_inferred = 0;
  // Client spans whose ids the kernel put on the wire (traceparent propagation): in the trace
  // of the request their thread served, or in a new one; and those whose thread trace was not
  // announced (its server read was not reported as a request start): given a new trace here,
  // so the callee's spans do not join them.
  uint64_t propagated_thread = 0;
  uint64_t propagated_new = 0;
  uint64_t propagated_trace_unknown = 0;
};

// Turns completed requests (RequestRecord + ConnMeta) into OTLP spans:
//  - SERVER spans for inbound requests, CLIENT spans for outbound ones, OTel semconv
//    attributes and names ("GET /users/{id}", "pkg.Service/Method"), status ERROR for
//    server 5xx / client 4xx-5xx / gRPC errors, one Resource per process.
//  - Ids are allocated when the request STARTS (RequestStartObserver, HTTP/1), so that the
//    records completing before their parent can still name it:
//      * an incoming W3C traceparent makes the server span a child of the remote parent;
//      * a client call made by a thread while it serves a request is a child of that server
//        span (ThreadSpanContext);
//      * a server request on a connection whose other end is a client request seen by this
//        collector (same host: the 4-tuple mirrored) is a child of that client span;
//      * an outgoing traceparent (the application propagates context itself) is honoured: the
//        client span joins that trace as a child of the span it names, unless that header was
//        merely forwarded from the inbound request, in which case the thread's server span is
//        the parent.
//    Records without a matching start (HTTP/2, gRPC, missed bytes) get ids at completion.
//  - Sampling (Sampler) is decided per completed span. Bodies, Authorization, Cookie,
//    Set-Cookie and query strings are never put on a span.
// Thread-safe (one mutex); normally driven by the ConnTracker's thread.
class SpanBuilder : public RequestConsumer, public RequestStartObserver {
 public:
  using SpanSink = std::function<void(Span span)>;

  // `catalog` (may be null) gives each process's service and executable names. `registry`
  // (may be null) receives zerotrace_spans_built_total{kind} and
  // zerotrace_spans_sampled_out_total.
  SpanBuilder(ProcessCatalog* catalog, SpanSink sink, SpanBuilderOptions options = {},
              prometheus::Registry* registry = nullptr, ClockSource clock = ClockSource::System(),
              std::unique_ptr<IdGenerator> ids = nullptr);
  ~SpanBuilder() override;
  SpanBuilder(const SpanBuilder&) = delete;
  SpanBuilder& operator=(const SpanBuilder&) = delete;

  void OnRequestStart(const RequestStart& start, const ConnMeta& conn) override;
  void OnRequest(const protocols::RequestRecord& record, const ConnMeta& conn) override;
  void OnLost(protocols::Protocol protocol, protocols::Role role, protocols::LossReason reason,
              uint64_t requests, const ConnMeta& conn) override;
  // A GPU kernel launched by a thread while it served a request becomes an INTERNAL child span
  // of that request's server span; kernels launched outside any request make no span.
  void OnGpuKernel(const GpuKernelRun& run);

  // Builds the server spans held for a late client (see SpanBuilderOptions) whose wait ended
  // more than deferred_idle_grace_ns before `now_ns` (CLOCK_MONOTONIC). SpanPipeline calls it
  // a few times a second; events move the wait along on their own.
  void Tick(uint64_t now_ns);
  // Builds every held server span now (shutdown).
  void FlushDeferred();

  // Expires old state, forgets exited processes, refreshes the clock offset when due.
  // `now_ns` is CLOCK_MONOTONIC; called from OnRequest* on its own every
  // maintenance_interval_ns, public for tests and idle periods.
  void Maintain(uint64_t now_ns);

  SpanBuilderCounters counters() const;
  size_t open_requests() const;

 private:
  struct Open {
    SpanContext context;
    std::optional<SpanId> parent;
    uint64_t start_ns = 0;
    uint32_t tgid = 0;
    uint32_t start_tid = 0;
    bool server = false;
    const char* parent_not_inferred = nullptr;  // client: why no thread parent (see above)
    // Propagation. Server: the trace the kernel gave the request (its thread's calls carry it
    // on the wire). Client: its ids are on the wire (inserted), so they cannot change.
    std::optional<TraceId> kernel_trace;
    bool wire_ids = false;
  };
  // An in-flight client span, by its connection's tuple (for the server span on the other end).
  struct PeerClient {
    SpanContext context;
    std::string key;  // in open_
  };
  // Propagation: a root client span whose ids are not on any wire moves into the trace the
  // kernel gave its server peer (`kernel_trace`: that server's calls already carry it), instead of
  // the server moving into the client's trace. True when it moved.
  static bool JoinKernelTrace(Open& client, const std::optional<TraceId>& kernel_trace);
  struct Parent {
    SpanContext context;
    std::optional<SpanId> parent_span_id;
  };
  // Why the thread a call was made on cannot name the request it serves (precision first: no
  // parent rather than a wrong one); empty when it can.
  static constexpr const char* kConcurrentThread = "thread_serves_concurrent_requests";
  static constexpr const char* kRequestsMoveThreads = "requests_move_between_threads";
  static constexpr const char* kGoRuntime = "go_goroutines";
  // Propagation: the kernel carried this call in a new trace (it could not name the request
  // the thread serves), or in a trace its server span then left (see AllocateClient).
  static constexpr const char* kNewTraceOnWire = "new_trace_on_the_wire";
  struct ServingProcess {
    bool checked_runtime = false;
    const char* no_thread_links = nullptr;  // kRequestsMoveThreads, kGoRuntime or null
  };
  // The process serves requests (it began a server span): its per-process verdict.
  ServingProcess& ServingLocked(uint32_t tgid);
  // Empty when thread (tgid, tid) may parent its calls; else the reason it may not.
  const char* NoThreadLinksLocked(uint32_t tgid, uint32_t tid);

  static std::string ConnKey(const ConnMeta& conn, uint64_t start_ns);
  // A server connection's identity for ThreadSpanContext (its local > remote tuple).
  static uint64_t ConnId(const std::string& tuple);
  static std::string TupleKey(const std::string& local_addr, uint16_t local_port,
                              const std::string& remote_addr, uint16_t remote_port);

  // Server: the remote parent (traceparent or the mirrored local client span) and the ids.
  Open AllocateServer(uint32_t tgid, uint32_t tid, const RequestStart& start, const ConnMeta& conn);
  Open AllocateClient(uint32_t tgid, uint32_t tid, const RequestStart& start);
  // A client request whose traceparent the kernel inserted: its ids are the ones on the wire.
  Open AllocateInjectedClient(uint32_t tgid, uint32_t tid, const RequestStart& start);
  // The verdict on a serving process's thread links changed (thread_links_verdict).
  void TellThreadLinks(uint32_t tgid, bool allowed) const;
  void Build(const protocols::RequestRecord& record, const ConnMeta& conn, const Open& open);
  std::shared_ptr<const Resource> ResourceFor(const ConnMeta& conn);
  void MaybeMaintainLocked(uint64_t now_ns);
  void MaintainLocked(uint64_t now_ns);
  void ForgetOpenLocked(const std::string& key);
  // A client request started: a server request on the mirrored connection that was seen
  // starting first (timestamp race) without a parent becomes the client span's child.
  void AdoptEarlyPeerLocked(const ConnMeta& client_conn, Open& client);

  // Server spans completed without a parent, from a peer that may be a client on this host,
  // waiting for that client's start (see SpanBuilderOptions::max_deferred_server_spans).
  struct Deferred {
    protocols::RequestRecord record;
    ConnMeta conn;
    Open open;
    uint64_t due_ns = 0;  // record end + peer_race_window_ns
  };
  // True when the server request's peer may be a client this collector sees: loopback, this
  // connection's own address, or an address a traced client connection used as its own.
  bool PeerMayBeLocalLocked(const ConnMeta& server_conn) const;
  void NoteClientLocked(const ConnMeta& client_conn);
  void DeferLocked(const protocols::RequestRecord& record, const ConnMeta& conn, const Open& open);
  // A client request started (or completed unannounced): the server span waiting on the
  // mirrored connection becomes its child, if its ids were not handed to a child of its own.
  void AdoptDeferredLocked(const ConnMeta& client_conn, Open& client);
  // Builds the waiting spans due at or before `event_ns`.
  void BuildDueLocked(uint64_t event_ns);
  void BuildDeferredLocked(const std::string& client_tuple);

  ProcessCatalog* catalog_;
  SpanSink sink_;
  SpanBuilderOptions options_;
  ClockConverter clock_;
  std::unique_ptr<IdGenerator> ids_;
  Sampler sampler_;
  ThreadSpanContext threads_;
  std::string host_name_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Open> open_;          // ConnKey → request in flight
  std::multimap<uint64_t, std::string> open_by_start_;  // start_ns → ConnKey, for expiry
  std::unordered_map<std::string, PeerClient> clients_by_tuple_;   // in-flight client spans
  std::unordered_map<std::string, std::string> servers_by_tuple_;  // tuple → ConnKey
  std::unordered_map<std::string, SpanId> server_parents_;  // server span id hex → parent id
  std::unordered_map<uint32_t, std::shared_ptr<const Resource>> resources_;
  std::unordered_map<uint32_t, ServingProcess> serving_;  // by tgid, forgotten at exit
  std::unordered_map<std::string, Deferred> deferred_;    // client-side tuple → waiting span
  std::multimap<uint64_t, std::string> deferred_by_due_;  // due_ns → client-side tuple
  std::unordered_set<std::string> client_addrs_;          // local addresses of traced clients
  // Propagation: by (tgid << 32 | tid), the start and trace id of the server request the kernel
  // last gave that thread (the trace its calls carry on the wire in thread mode).
  std::unordered_map<uint64_t, std::pair<uint64_t, TraceId>> kernel_traces_;
  uint64_t event_watermark_ns_ = 0;  // newest event time seen
  uint64_t last_maintenance_ns_ = 0;
  uint64_t last_clock_refresh_ns_ = 0;
  SpanBuilderCounters counters_;
  prometheus::Counter* built_server_ = nullptr;
  prometheus::Counter* built_client_ = nullptr;
  prometheus::Counter* sampled_out_ = nullptr;
};

// What the daemon / `zerotrace attach --spans` owns: a SpanBuilder feeding an exporter.
//   auto spans = SpanPipeline::Create(catalog, &registry, otlp_options, builder_options);
//   request_pipeline.AddConsumer(spans.value()->consumer());   // before RequestPipeline::Start
//   ... spans.value()->Shutdown();                             // after RequestPipeline::Stop
class SpanPipeline {
 public:
  // OTLP/HTTP (OtlpTraceExporter). Error when `exporter` has no endpoint configured.
  // `registry` (may be null) receives zerotrace_spans_* counters; must outlive the pipeline.
  static Result<std::unique_ptr<SpanPipeline>> Create(ProcessCatalog& catalog,
                                                      prometheus::Registry* registry,
                                                      const otlp::OtlpExporterOptions& exporter,
                                                      const SpanBuilderOptions& options = {});
  // OTLP JSON lines to `path` ("-" = stdout), for `zerotrace attach --spans FILE`. Spans are
  // written in batches: every 256 spans, on Flush() and on Shutdown().
  static Result<std::unique_ptr<SpanPipeline>> CreateFile(ProcessCatalog& catalog,
                                                          const std::string& path,
                                                          const SpanBuilderOptions& options = {});
  ~SpanPipeline();
  SpanPipeline(const SpanPipeline&) = delete;
  SpanPipeline& operator=(const SpanPipeline&) = delete;

  // Give to RequestPipeline::AddConsumer (it also receives request starts).
  RequestConsumer* consumer() { return builder_.get(); }
  SpanBuilder& builder() { return *builder_; }
  // Hands buffered spans to the exporter / file and waits up to `timeout` for them to go.
  bool Flush(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // Final flush (bounded, <= 2 s for OTLP); idempotent. Call after the RequestPipeline stopped.
  void Shutdown();
  SpanBuilderCounters counters() const { return builder_->counters(); }

 private:
  SpanPipeline() = default;
  void OnSpan(Span span);
  void WriteFileBatchLocked();
  // Ticks the builder a few times a second (its held server spans must leave an idle host).
  void StartTicker();
  void StopTicker();

  std::unique_ptr<otlp::OtlpTraceExporter> otlp_;
  std::unique_ptr<otlp::OtlpFileExporter> file_;
  std::mutex file_mu_;
  std::vector<Span> file_batch_;
  std::unique_ptr<SpanBuilder> builder_;
  bool shut_down_ = false;
  std::mutex ticker_mu_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;
  std::thread ticker_;
};

}  // namespace zerotrace::tracing
