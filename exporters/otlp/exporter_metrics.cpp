#include "otlp/exporter_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "core/metric_family.h"

namespace zerotrace::otlp {
namespace {

void Add(std::atomic<uint64_t>& a, prometheus::Counter* p, uint64_t n) {
  a.fetch_add(n, std::memory_order_relaxed);
  if (p != nullptr) p->Increment(static_cast<double>(n));
}

}  // namespace

ExporterMetrics::ExporterMetrics(prometheus::Registry* registry) {
  if (registry == nullptr) return;
  auto& exported = CounterFamily(*registry, "zerotrace_spans_exported_total");
  p_exported_ = &exported.Add({});
  auto& dropped = CounterFamily(*registry, "zerotrace_spans_dropped_total");
  p_queue_full_ = &dropped.Add({{"reason", "queue_full"}});
  p_export_failed_ = &dropped.Add({{"reason", "export_failed"}});
  p_shutdown_ = &dropped.Add({{"reason", "shutdown"}});
  auto& requests = CounterFamily(*registry, "zerotrace_otlp_export_requests_total");
  p_req_success_ = &requests.Add({{"result", "success"}});
  p_req_retryable_ = &requests.Add({{"result", "retryable_failure"}});
  p_req_failure_ = &requests.Add({{"result", "failure"}});
}

void ExporterMetrics::AddExported(uint64_t n) { Add(exported_, p_exported_, n); }
void ExporterMetrics::AddDroppedQueueFull(uint64_t n) { Add(queue_full_, p_queue_full_, n); }
void ExporterMetrics::AddDroppedExportFailed(uint64_t n) {
  Add(export_failed_, p_export_failed_, n);
}
void ExporterMetrics::AddDroppedShutdown(uint64_t n) { Add(shutdown_, p_shutdown_, n); }
void ExporterMetrics::AddRequestSuccess() { Add(req_success_, p_req_success_, 1); }
void ExporterMetrics::AddRequestRetryableFailure() { Add(req_retryable_, p_req_retryable_, 1); }
void ExporterMetrics::AddRequestFailure() { Add(req_failure_, p_req_failure_, 1); }

ExporterCounters ExporterMetrics::Snapshot() const {
  ExporterCounters c;
  c.spans_exported = exported_.load(std::memory_order_relaxed);
  c.spans_dropped_queue_full = queue_full_.load(std::memory_order_relaxed);
  c.spans_dropped_export_failed = export_failed_.load(std::memory_order_relaxed);
  c.spans_dropped_shutdown = shutdown_.load(std::memory_order_relaxed);
  c.requests_success = req_success_.load(std::memory_order_relaxed);
  c.requests_retryable_failure = req_retryable_.load(std::memory_order_relaxed);
  c.requests_failure = req_failure_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace zerotrace::otlp
