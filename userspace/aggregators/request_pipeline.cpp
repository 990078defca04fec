#include "aggregators/request_pipeline.h"

#include <chrono>

#include "core/clock.h"
#include "core/metric_family.h"

#include <time.h>

namespace zerotrace {

RequestPipeline::RequestPipeline(prometheus::Registry& registry, ProcessCatalog& catalog,
                                 size_t max_routes_per_service)
    : tracker_(catalog, ConnTracker::kDefaultMaxConnections, max_routes_per_service),
      red_(registry),
      connections_(GaugeFamily(registry, "zerotrace_connections_tracked").Add({})),
      bytes_captured_(CounterFamily(registry, "zerotrace_socket_bytes_captured_total").Add({})),
      bytes_not_copied_(CounterFamily(registry, "zerotrace_socket_bytes_not_copied_total").Add({})),
      h2_follow_lost_(CounterFamily(registry, "zerotrace_http2_frame_following_lost_total")),
      h2_follow_kernel_(h2_follow_lost_.Add({{"reason", "kernel"}})),
      h2_follow_segment_(h2_follow_lost_.Add({{"reason", "segment"}})),
      disorder_(CounterFamily(registry, "zerotrace_socket_events_disordered_total")),
      events_late_(disorder_.Add({{"kind", "late"}})),
      events_after_gap_(disorder_.Add({{"kind", "after_gap"}})),
      generation_switches_(disorder_.Add({{"kind", "unclosed_generation"}})),
      reordered_(CounterFamily(registry, "zerotrace_socket_reads_reordered_total")),
      reads_after_write_(reordered_.Add({{"outcome", "after_write"}})),
      reads_hold_expired_(reordered_.Add({{"outcome", "hold_expired"}})),
      reads_hold_full_(reordered_.Add({{"outcome", "hold_full"}})),
      requests_(CounterFamily(registry, "zerotrace_requests_total").Add({})),
      conns_dropped_(CounterFamily(registry, "zerotrace_connections_dropped_total").Add({})),
      tls_unlinked_(CounterFamily(registry, "zerotrace_tls_calls_unattributed_total").Add({})),
      unknown_protocol_(
          CounterFamily(registry, "zerotrace_unknown_protocol_connections_total").Add({})) {
  tracker_.AddConsumer(&red_);
}

RequestPipeline::~RequestPipeline() { Stop(); }

SocketsProbe::Handler RequestPipeline::Handler() {
  // Locked per event (uncontended but for Refresh), so polling itself never blocks a scrape.
  return [this](const sock_event_header& h, const uint8_t* data) {
    std::lock_guard lock(mu_);
    tracker_.OnEvent(h, data);
  };
}

void RequestPipeline::AddConsumer(RequestConsumer* consumer) {
  std::lock_guard lock(mu_);
  tracker_.AddConsumer(consumer);
}

void RequestPipeline::Start(SocketsProbe* probe) {
  probe_ = probe;
  {
    std::lock_guard lock(mu_);
    tracker_.SetCaptureHints(probe);
  }
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void RequestPipeline::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void RequestPipeline::Loop() {
  // Events do not wake us one by one, so the poll timeout is the batching interval. Above 10k
  // events/s the interval is 2 ms: a long batch holds a CPU for a millisecond or more, stalling
  // the traced servers that share it (their p99), and its events have left the cache by the time
  // they are read; 2 ms measured 5 points more nginx+wrk throughput than 10 ms on 2 vCPUs
  // (docs/benchmarks.md). A quiet node is polled 20 times a second.
  constexpr int kBusyMs = 2, kIdleMs = 50, kBusyEventsPerMs = 10;
  int timeout_ms = kIdleMs;
  while (!stop_) {
    const int events = probe_->Poll(timeout_ms);
    timeout_ms = events > kBusyEventsPerMs * timeout_ms ? kBusyMs : kIdleMs;
  }
  // What the kernel recorded before the stop is still read (requests a client completed just
  // before Ctrl-C count), within a bound: a busy host keeps the rings filling.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (probe_->Poll(0) > 0 && std::chrono::steady_clock::now() < until) {
  }
}

void RequestPipeline::Refresh() {
  std::lock_guard lock(mu_);
  const uint64_t now = MonotonicNs();  // the clock of the events' bpf_ktime_get_ns()
  tracker_.SweepClosed(now);
  tracker_.SweepHeld(now);
  tracker_.SweepDead(now);
  red_.RemoveIdleSeries(now);
  const auto& c = tracker_.counters();
  connections_.Set(static_cast<double>(tracker_.connections()));
  bytes_captured_.Update(c.bytes_captured);
  bytes_not_copied_.Update(c.bytes_not_copied);
  h2_follow_segment_.Update(c.segments_unmatched);
  if (probe_) {
    h2_follow_kernel_.Update(probe_->h2_framing_lost());
    tls_unlinked_.Update(probe_->tls_calls_unlinked());
  }
  requests_.Update(c.requests);
  events_late_.Update(c.events_late);
  events_after_gap_.Update(c.events_after_gap);
  generation_switches_.Update(c.generation_switches);
  reads_after_write_.Update(c.reads_reordered.reordered);
  reads_hold_expired_.Update(c.reads_reordered.expired);
  reads_hold_full_.Update(c.reads_reordered.overflowed);
  conns_dropped_.Update(c.connections_dropped);
  const auto parser = tracker_.TakeParserCounters();
  if (parser.unknown_protocol_connections) {
    unknown_protocol_.Increment(static_cast<double>(parser.unknown_protocol_connections));
  }
}

}  // namespace zerotrace
