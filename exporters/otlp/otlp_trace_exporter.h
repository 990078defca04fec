#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "otlp/exporter_metrics.h"
#include "otlp/otlp_options.h"
#include "tracing/span.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace zerotrace::otlp {

class HttpClient;

// Batching OTLP/HTTP trace exporter: POST {endpoint}/v1/traces, protobuf or JSON, optional
// gzip, on a background thread.
//  - Export() never blocks on the network: spans go to a bounded queue; when it is full the
//    new span is dropped (reason "queue_full").
//  - A batch is sent when max_batch_size spans are queued or max_export_delay has passed.
//  - Connection errors, 429, 502, 503, 504 are retried with exponential backoff and jitter
//    (Retry-After seconds honoured, capped by max_retry_after) up to max_retries; then the
//    batch is dropped ("export_failed"). Other HTTP errors drop the batch at once.
//  - Spans an endpoint rejects through partial_success count as dropped ("export_failed").
//  - Shutdown() (or the destructor) flushes what is queued for at most shutdown_timeout
//    (<= 2 s); what is left is dropped ("shutdown").
class OtlpTraceExporter {
 public:
  // `default_resource` is used for spans whose `resource` is null. `registry`, when given,
  // receives the zerotrace_spans_* / zerotrace_otlp_* counters and must outlive the exporter.
  explicit OtlpTraceExporter(OtlpExporterOptions options, tracing::Resource default_resource = {},
                             prometheus::Registry* registry = nullptr);
  ~OtlpTraceExporter();
  OtlpTraceExporter(const OtlpTraceExporter&) = delete;
  OtlpTraceExporter& operator=(const OtlpTraceExporter&) = delete;

  // Queues one span. False if dropped (queue full, or after Shutdown()).
  bool Export(tracing::Span span);
  // Waits until everything queued so far was handed to the endpoint (or dropped), up to
  // `timeout`. True if the queue drained in time.
  bool ForceFlush(std::chrono::milliseconds timeout);
  // Idempotent and thread-safe. Stops accepting spans, flushes for at most shutdown_timeout,
  // joins the worker thread.
  void Shutdown();

  ExporterCounters counters() const;
  const OtlpExporterOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  enum class SendResult { kSuccess, kRetryable, kFatal };

  void Run();
  // Sends one batch with retries; `deadline` bounds the whole attempt (for shutdown).
  void ExportBatch(std::vector<tracing::Span> batch);
  // On success, *rejected is the partial_success.rejected_spans the endpoint reported.
  SendResult SendOnce(const std::string& body, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds* retry_after, uint64_t* rejected);
  std::chrono::milliseconds Backoff(int attempt);
  // Sleeps up to `d`, or less when the shutdown deadline comes first. False when the
  // deadline has passed (no more attempts).
  bool WaitBeforeRetry(std::chrono::milliseconds d);
  bool PastShutdownDeadline() const;
  // Failures are counted in metrics and also logged, at most once a minute (with what was
  // dropped since), so an unreachable collector is visible in the log, not only in counters.
  void ReportDropped(uint64_t spans);
  void ReportDelivered();

  OtlpExporterOptions options_;
  tracing::Resource default_resource_;
  std::vector<std::pair<std::string, std::string>> request_headers_;
  std::string url_;
  ExporterMetrics metrics_;
  std::unique_ptr<HttpClient> http_;
  std::mt19937 jitter_rng_;
  // Owned by the worker thread (ExportBatch).
  std::string last_error_;
  bool failing_ = false;
  uint64_t dropped_unreported_ = 0;
  uint64_t batches_unreported_ = 0;
  std::chrono::steady_clock::time_point last_report_{};

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // worker: spans queued, flush requested, stop
  std::condition_variable idle_cv_;  // ForceFlush waiters
  std::deque<tracing::Span> queue_;
  bool stopping_ = false;
  bool exporting_ = false;
  uint64_t flush_requests_ = 0;
  Clock::time_point shutdown_deadline_{};
  std::mutex join_mu_;  // serializes concurrent Shutdown() calls around join()
  std::thread worker_;
};

}  // namespace zerotrace::otlp
