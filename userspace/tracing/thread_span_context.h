#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "tracing/id_generator.h"
#include "tracing/span.h"
#include "tracing/trace_context.h"

namespace zerotrace::tracing {

struct ThreadSpanContextOptions {
  size_t max_threads = 65536;        // tracked (tgid, tid) pairs; beyond that new ones skipped
  size_t max_spans_per_thread = 16;  // recent server spans remembered per thread (oldest evicted)
  uint64_t retention_ns = 30'000'000'000ULL;  // ended spans kept this long for late client records
  uint64_t max_open_ns = 300'000'000'000ULL;  // spans never ended are forgotten after this
};

// The ids of a server span, allocated when its request starts.
struct ServerSpanHandle {
  SpanContext context;                   // the server span's trace id / span id / flags / state
  std::optional<SpanId> parent_span_id;  // the incoming traceparent's span id, if any
};

// (tgid, tid) → server spans in flight (or recently ended) on that thread, so that a client
// request made by that thread becomes the server span's child.
//
// Protocol for the integrator (all timestamps in one clock, e.g. kernel monotonic ns):
//  1. When a server request's first bytes are parsed: BeginServerSpan(tgid, tid, t0, incoming,
//     ids) — allocates the server span id now; keep the handle to build the server Span.
//  2. When its response has been written: EndServerSpan(tgid, tid, span_id, t1).
//  3. For a client request record of the same thread starting at t: FindParent(tgid, tid, t)
//     returns the server span whose [t0, t1] (or [t0, ∞) while open) contains t. Works whether
//     the client record is handled before or after EndServerSpan (within retention_ns).
//     Precision first: a thread seen serving two requests at once (an event loop: Node,
//     asyncio, a proxy) can make a call for any of them, so its calls get no parent from then
//     on (ServesConcurrently); a wrong parent is worse than none.
//  4. Call Expire(now) periodically and ForgetProcess(tgid) when a process exits.
// Memory is bounded by max_threads × max_spans_per_thread. Thread-safe.
class ThreadSpanContext {
 public:
  explicit ThreadSpanContext(ThreadSpanContextOptions options = {});

  // `new_trace`: without `incoming`, the trace id to start (one the kernel already put on the
  // wire: traceparent propagation); else a new one. `conn` names the request's connection (0:
  // unknown). HTTP/1 carries one request at a time per connection: a request that begins on the
  // connection of a still-open one ends it (its response was reported late or missed), unless both
  // began with the same read (pipelining).
  ServerSpanHandle BeginServerSpan(uint32_t tgid, uint32_t tid, uint64_t start_ns,
                                   const std::optional<SpanContext>& incoming, IdGenerator& ids,
                                   uint64_t conn = 0, const TraceId* new_trace = nullptr);
  // Drops a span begun but never handed out (its ids are re-allocated).
  void ForgetServerSpan(uint32_t tgid, uint32_t tid, const SpanId& span_id);
  // False if the span is unknown (evicted, expired, never begun).
  bool EndServerSpan(uint32_t tgid, uint32_t tid, const SpanId& span_id, uint64_t end_ns);
  // Marks the span found as handed out (its trace id now names a child).
  std::optional<SpanContext> FindParent(uint32_t tgid, uint32_t tid,
                                        uint64_t client_start_ns) const;
  // Moves a server span that ended without a parent into `parent`'s trace (its client was
  // reported late: see SpanBuilder's deferred server spans). Only while no child was handed its
  // ids (FindParent never returned it): false otherwise, or when the span is unknown.
  bool Rejoin(uint32_t tgid, uint32_t tid, const SpanId& span_id, const SpanContext& parent);
  // The thread began a server span while another of its spans was open (sticky).
  bool ServesConcurrently(uint32_t tgid, uint32_t tid) const;

  void Expire(uint64_t now_ns);
  void ForgetProcess(uint32_t tgid);

  size_t thread_count() const;
  uint64_t skipped_threads() const;  // Begin calls not tracked because max_threads was reached

 private:
  struct Entry {
    SpanContext context;
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;  // 0 = still open
    uint64_t conn = 0;
    mutable bool handed_out = false;  // FindParent returned it
  };
  static uint64_t Key(uint32_t tgid, uint32_t tid) {
    return (static_cast<uint64_t>(tgid) << 32) | tid;
  }
  void ExpireLocked(uint64_t now_ns);

  ThreadSpanContextOptions options_;
  mutable std::mutex mu_;
  struct Thread {
    std::deque<Entry> spans;
    bool concurrent = false;
  };
  std::unordered_map<uint64_t, Thread> threads_;
  uint64_t skipped_threads_ = 0;
};

}  // namespace zerotrace::tracing
