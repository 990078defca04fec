#include "otlp/otlp_trace_exporter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/gzip.h"
#include "otlp/http_client.h"
#include "otlp/otlp_encoder.h"

namespace zerotrace::otlp {
namespace {

constexpr std::chrono::milliseconds kMaxShutdownTimeout{2000};

// partial_success.rejected_spans of an ExportTraceServiceResponse (0 when absent/unparsable).
uint64_t RejectedSpans(const std::string& body, OtlpEncoding encoding) {
  if (body.empty()) return 0;
  if (encoding == OtlpEncoding::kProtobuf) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
    if (!response.ParseFromString(body)) return 0;
    int64_t n = response.partial_success().rejected_spans();
    return n > 0 ? static_cast<uint64_t>(n) : 0;
  }
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("partialSuccess")) return 0;
  const auto& ps = j["partialSuccess"];
  if (!ps.is_object() || !ps.contains("rejectedSpans")) return 0;
  const auto& v = ps["rejectedSpans"];
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_string()) {
    try {
      return std::stoull(v.get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

bool IsRetryableStatus(long status) {  // NOLINT(runtime/int)
  return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

}  // namespace

OtlpTraceExporter::OtlpTraceExporter(OtlpExporterOptions options,
                                     tracing::Resource default_resource,
                                     prometheus::Registry* registry)
    : options_(std::move(options)),
      default_resource_(std::move(default_resource)),
      metrics_(registry),
      http_(std::make_unique<HttpClient>()),
      jitter_rng_(std::random_device{}()) {
  options_.max_queue_size = std::max<size_t>(1, options_.max_queue_size);
  options_.max_batch_size = std::max<size_t>(1, options_.max_batch_size);
  options_.shutdown_timeout =
      std::clamp(options_.shutdown_timeout, std::chrono::milliseconds(0), kMaxShutdownTimeout);
  options_.max_retries = std::max(0, options_.max_retries);
  url_ = options_.TracesUrl();
  request_headers_ = options_.headers;
  request_headers_.emplace_back("Content-Type", options_.encoding == OtlpEncoding::kJson
                                                    ? "application/json"
                                                    : "application/x-protobuf");
  if (options_.compression == OtlpCompression::kGzip) {
    request_headers_.emplace_back("Content-Encoding", "gzip");
  }
  worker_ = std::thread([this] { Run(); });
}

OtlpTraceExporter::~OtlpTraceExporter() { Shutdown(); }

bool OtlpTraceExporter::Export(tracing::Span span) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopping_) {
    lock.unlock();
    metrics_.AddDroppedShutdown(1);
    return false;
  }
  if (queue_.size() >= options_.max_queue_size) {
    lock.unlock();
    metrics_.AddDroppedQueueFull(1);
    return false;
  }
  queue_.push_back(std::move(span));
  bool full_batch = queue_.size() >= options_.max_batch_size;
  lock.unlock();
  if (full_batch) work_cv_.notify_one();
  return true;
}

bool OtlpTraceExporter::ForceFlush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  ++flush_requests_;
  work_cv_.notify_one();
  return idle_cv_.wait_for(lock, timeout, [this] { return queue_.empty() && !exporting_; });
}

void OtlpTraceExporter::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      shutdown_deadline_ = Clock::now() + options_.shutdown_timeout;
    }
  }
  work_cv_.notify_all();
  std::lock_guard<std::mutex> join_lock(join_mu_);
  if (worker_.joinable()) worker_.join();
}

ExporterCounters OtlpTraceExporter::counters() const {
  ExporterCounters c = metrics_.Snapshot();
  std::lock_guard<std::mutex> lock(mu_);
  c.queue_size = queue_.size();
  return c;
}

bool OtlpTraceExporter::PastShutdownDeadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_ && Clock::now() >= shutdown_deadline_;
}

void OtlpTraceExporter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t flushes_seen = 0;
  bool drain_now = false;
  while (true) {
    if (!drain_now) {
      work_cv_.wait_for(lock, options_.max_export_delay, [&] {
        return stopping_ || queue_.size() >= options_.max_batch_size ||
               flush_requests_ != flushes_seen;
      });
    }
    drain_now = false;
    bool flush = flush_requests_ != flushes_seen;
    flushes_seen = flush_requests_;
    if (stopping_ && (queue_.empty() || Clock::now() >= shutdown_deadline_)) break;
    if (queue_.empty()) {
      idle_cv_.notify_all();
      continue;
    }
    // A full batch, or a partial one when the delay expired or a flush/stop was requested.
    size_t n = std::min(queue_.size(), options_.max_batch_size);
    std::vector<tracing::Span> batch;
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    exporting_ = true;
    lock.unlock();
    ExportBatch(std::move(batch));
    lock.lock();
    exporting_ = false;
    if (queue_.empty()) {
      idle_cv_.notify_all();
    } else if (stopping_ || flush || queue_.size() >= options_.max_batch_size) {
      drain_now = true;
    }
  }
  size_t left = queue_.size();
  queue_.clear();
  lock.unlock();
  if (left > 0) metrics_.AddDroppedShutdown(left);
  idle_cv_.notify_all();
}

std::chrono::milliseconds OtlpTraceExporter::Backoff(int attempt) {
  // Exponential: initial * 2^attempt, capped; "equal jitter": uniform in [d/2, d].
  auto d = options_.initial_backoff;
  for (int i = 0; i < attempt && d < options_.max_backoff; ++i) d *= 2;
  d = std::min(d, options_.max_backoff);
  int64_t ms = d.count();
  if (ms <= 1) return std::chrono::milliseconds(std::max<int64_t>(ms, 0));
  std::uniform_int_distribution<int64_t> dist(ms / 2, ms);
  return std::chrono::milliseconds(dist(jitter_rng_));
}

bool OtlpTraceExporter::WaitBeforeRetry(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  auto until = Clock::now() + d;
  if (stopping_) until = std::min(until, shutdown_deadline_);
  // Wakes early on stop (so the shutdown deadline can apply), otherwise sleeps the full delay.
  while (Clock::now() < until) {
    bool was_stopping = stopping_;
    work_cv_.wait_until(lock, until, [&] { return stopping_ && !was_stopping; });
    if (stopping_ && !was_stopping) until = std::min(until, shutdown_deadline_);
  }
  return !(stopping_ && Clock::now() >= shutdown_deadline_);
}

OtlpTraceExporter::SendResult OtlpTraceExporter::SendOnce(const std::string& body,
                                                          std::chrono::milliseconds timeout,
                                                          std::chrono::milliseconds* retry_after,
                                                          uint64_t* rejected) {
  HttpResponse response = http_->Post(url_, body, request_headers_, timeout);
  if (response.status == 0) {
    last_error_ = response.error.empty() ? "no response" : response.error;
  } else if (response.status < 200 || response.status >= 300) {
    last_error_ = "HTTP " + std::to_string(response.status);
    if (!response.body.empty()) last_error_ += ": " + response.body.substr(0, 200);
  }
  if (response.status >= 200 && response.status < 300) {
    *rejected = RejectedSpans(response.body, options_.encoding);
    return SendResult::kSuccess;
  }
  if (IsRetryableStatus(response.status)) {
    if (response.retry_after) {
      *retry_after =
          std::min<std::chrono::milliseconds>(*response.retry_after, options_.max_retry_after);
    }
    return SendResult::kRetryable;
  }
  return SendResult::kFatal;
}

void OtlpTraceExporter::ExportBatch(std::vector<tracing::Span> batch) {
  const size_t count = batch.size();
  EncodeOptions encode{options_.scope_name, options_.scope_version, options_.service_name};
  ExportTraceServiceRequest request = BuildExportRequest(batch, default_resource_, encode);
  batch.clear();
  std::string body =
      options_.encoding == OtlpEncoding::kJson ? ToOtlpJson(request) : request.SerializeAsString();
  if (options_.compression == OtlpCompression::kGzip) {
    auto compressed = GzipCompress(body);
    if (!compressed) {
      metrics_.AddDroppedExportFailed(count);
      last_error_ = "gzip compression failed";
      ReportDropped(count);
      return;
    }
    body = std::move(*compressed);
  }
  for (int attempt = 0;; ++attempt) {
    auto timeout = options_.timeout;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(shutdown_deadline_ -
                                                                          Clock::now());
        if (left.count() <= 0) {
          metrics_.AddDroppedShutdown(count);
          return;
        }
        timeout = std::min(timeout, left);
      }
    }
    std::chrono::milliseconds retry_after{-1};
    uint64_t rejected = 0;
    SendResult result = SendOnce(body, timeout, &retry_after, &rejected);
    if (result == SendResult::kSuccess) {
      rejected = std::min<uint64_t>(rejected, count);
      metrics_.AddRequestSuccess();
      metrics_.AddExported(count - rejected);
      if (rejected > 0) {
        metrics_.AddDroppedExportFailed(rejected);
        last_error_ = "the endpoint rejected " + std::to_string(rejected) + " span(s)";
        ReportDropped(rejected);
      } else {
        ReportDelivered();
      }
      return;
    }
    if (result == SendResult::kFatal) {
      metrics_.AddRequestFailure();
      metrics_.AddDroppedExportFailed(count);
      ReportDropped(count);
      return;
    }
    metrics_.AddRequestRetryableFailure();
    if (attempt >= options_.max_retries) {
      metrics_.AddDroppedExportFailed(count);
      ReportDropped(count);
      return;
    }
    auto delay = std::max(Backoff(attempt), retry_after);
    if (!WaitBeforeRetry(delay)) {
      metrics_.AddDroppedShutdown(count);
      return;
    }
  }
}

void OtlpTraceExporter::ReportDropped(uint64_t spans) {
  dropped_unreported_ += spans;
  ++batches_unreported_;
  const auto now = Clock::now();
  if (failing_ && now - last_report_ < std::chrono::minutes(1)) return;
  spdlog::warn(
      "OTLP export to {} failed: {}; {} span(s) in {} batch(es) dropped{} "
      "(zerotrace_spans_dropped_total counts them)",
      url_, last_error_, dropped_unreported_, batches_unreported_,
      failing_ ? " in the last minute" : "");
  failing_ = true;
  last_report_ = now;
  dropped_unreported_ = batches_unreported_ = 0;
}

void OtlpTraceExporter::ReportDelivered() {
  if (!failing_) return;
  if (dropped_unreported_ > 0) {
    spdlog::warn("OTLP export to {}: {} more span(s) dropped before it recovered", url_,
                 dropped_unreported_);
  }
  spdlog::info("OTLP export to {} works again", url_);
  failing_ = false;
  dropped_unreported_ = batches_unreported_ = 0;
}

}  // namespace zerotrace::otlp
