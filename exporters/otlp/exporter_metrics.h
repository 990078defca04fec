#pragma once

#include <atomic>
#include <cstdint>

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace zerotrace::otlp {

// A snapshot of an exporter's counters.
struct ExporterCounters {
  uint64_t spans_exported = 0;
  uint64_t spans_dropped_queue_full = 0;
  uint64_t spans_dropped_export_failed = 0;
  uint64_t spans_dropped_shutdown = 0;
  uint64_t requests_success = 0;            // result="success"
  uint64_t requests_retryable_failure = 0;  // result="retryable_failure" (conn error, 429, 50x)
  uint64_t requests_failure = 0;            // result="failure" (other HTTP errors)
  uint64_t queue_size = 0;                  // spans waiting, at snapshot time
};

// Counters kept as atomics and, when a registry is given, mirrored to Prometheus as
//   zerotrace_spans_exported_total
//   zerotrace_spans_dropped_total{reason="queue_full|export_failed|shutdown"}
//   zerotrace_otlp_export_requests_total{result="success|retryable_failure|failure"}
// The registry must outlive this object.
class ExporterMetrics {
 public:
  explicit ExporterMetrics(prometheus::Registry* registry);

  void AddExported(uint64_t n);
  void AddDroppedQueueFull(uint64_t n);
  void AddDroppedExportFailed(uint64_t n);
  void AddDroppedShutdown(uint64_t n);
  void AddRequestSuccess();
  void AddRequestRetryableFailure();
  void AddRequestFailure();
  ExporterCounters Snapshot() const;

 private:
  std::atomic<uint64_t> exported_{0}, queue_full_{0}, export_failed_{0}, shutdown_{0};
  std::atomic<uint64_t> req_success_{0}, req_retryable_{0}, req_failure_{0};
  prometheus::Counter* p_exported_ = nullptr;
  prometheus::Counter* p_queue_full_ = nullptr;
  prometheus::Counter* p_export_failed_ = nullptr;
  prometheus::Counter* p_shutdown_ = nullptr;
  prometheus::Counter* p_req_success_ = nullptr;
  prometheus::Counter* p_req_retryable_ = nullptr;
  prometheus::Counter* p_req_failure_ = nullptr;
};

}  // namespace zerotrace::otlp
