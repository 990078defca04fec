#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

#include "aggregators/conn_tracker.h"
#include "aggregators/red_aggregator.h"
#include "core/cumulative_counter.h"
#include "probes/sockets_probe.h"

namespace zerotrace {

// The L7 path: sockets probe ring buffer → ConnTracker (per-connection parsers) → consumers
// (RED metrics, spans). One thread drains the ring buffer; everything downstream of it runs on
// that thread, so parsers need no locks.
class RequestPipeline {
 public:
  // max_routes_per_service: probes.sockets.max_routes_per_service (http_route values kept per
  // service; the rest are "other").
  RequestPipeline(prometheus::Registry& registry, ProcessCatalog& catalog,
                  size_t max_routes_per_service = 100);
  ~RequestPipeline();

  // The handler to give the SocketsProbe; events are routed into the tracker.
  SocketsProbe::Handler Handler();
  void AddConsumer(RequestConsumer* consumer);
  // Starts draining `probe` on a background thread.
  void Start(SocketsProbe* probe);
  void Stop();
  // Exports the pipeline's own counters and sweeps connections of exited processes.
  void Refresh();

 private:
  void Loop();

  ConnTracker tracker_;
  RedAggregator red_;
  std::mutex mu_;
  SocketsProbe* probe_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  prometheus::Gauge& connections_;
  CumulativeCounter bytes_captured_;
  CumulativeCounter bytes_not_copied_;
  prometheus::Family<prometheus::Counter>& h2_follow_lost_;
  CumulativeCounter h2_follow_kernel_;
  CumulativeCounter h2_follow_segment_;
  prometheus::Family<prometheus::Counter>& disorder_;
  CumulativeCounter events_late_;
  CumulativeCounter events_after_gap_;
  CumulativeCounter generation_switches_;
  prometheus::Family<prometheus::Counter>& reordered_;
  CumulativeCounter reads_after_write_;
  CumulativeCounter reads_hold_expired_;
  CumulativeCounter reads_hold_full_;
  CumulativeCounter requests_;
  CumulativeCounter conns_dropped_;
  CumulativeCounter tls_unlinked_;
  prometheus::Counter& unknown_protocol_;
};

}  // namespace zerotrace
