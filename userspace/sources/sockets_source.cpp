#include "sources/sockets_source.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "core/metric_family.h"
#include "otlp/otlp_options.h"

namespace zerotrace {

SocketsSource::SocketsSource(const SourceContext& context) : context_(context) {
  const Config& c = context.config;
  pipeline_ = std::make_unique<RequestPipeline>(context.registry, context.catalog,
                                                c.sockets.max_routes_per_service);
  for (RequestConsumer* consumer : context.request_consumers) pipeline_->AddConsumer(consumer);
  StartSpans();
  SocketsProbeOptions opts;
  opts.capture_bytes = c.sockets.capture_bytes;
  opts.self_tgid = static_cast<uint32_t>(getpid());
  opts.propagate = c.otlp.propagate_traceparent;
  probe_ =
      std::make_unique<SocketsProbe>(context.features, context.filter, opts, pipeline_->Handler());
}

SocketsSource::~SocketsSource() { Stop(); }

tracing::SpanBuilderOptions SocketsSource::BuilderOptions() const {
  const auto& c = context_.config.otlp;
  tracing::SpanBuilderOptions so;
  so.sampler.ratio = c.sampling_ratio;
  so.sampler.keep_errors = c.keep_errors;
  so.sampler.keep_slower_than_ns = static_cast<uint64_t>(c.keep_slower_than.count()) * 1000000ull;
  if (c.propagate_traceparent) {
    // From the span builder (the pipeline's thread) to the kernel; the probe exists from
    // Start() on, before the pipeline's thread does.
    so.thread_links_verdict = [this](uint32_t tgid, bool allowed) {
      if (propagation_) propagation_->SetThreadLinks(tgid, allowed);
    };
  }
  return so;
}

void SocketsSource::StartSpans() {
  const auto& c = context_.config.otlp;
  if (!c.file.empty()) {
    auto spans = tracing::SpanPipeline::CreateFile(context_.catalog, c.file, BuilderOptions());
    if (!spans.ok()) {
      spdlog::error("spans disabled: {}: {}", c.file, spans.error().message);
      return;
    }
    spans_ = std::move(spans.value());
    pipeline_->AddConsumer(spans_->consumer());
    return;
  }
  otlp::OtlpExporterOptions base;
  base.endpoint = c.endpoint;
  base.traces_endpoint = c.traces_endpoint;
  for (const auto& [k, v] : c.headers) base.headers.emplace_back(k, v);
  base.compression =
      c.compression == "gzip" ? otlp::OtlpCompression::kGzip : otlp::OtlpCompression::kNone;
  base.encoding =
      c.protocol == "http/json" ? otlp::OtlpEncoding::kJson : otlp::OtlpEncoding::kProtobuf;
  auto otlp = otlp::OtlpExporterOptions::FromEnvironment(base);
  if (!otlp.ok()) {
    spdlog::error("spans disabled: {}", otlp.error().message);
    return;
  }
  if (!otlp->Enabled()) {
    spdlog::info("spans off: set OTEL_EXPORTER_OTLP_ENDPOINT to export request spans over OTLP");
    return;
  }
  auto spans =
      tracing::SpanPipeline::Create(context_.catalog, &context_.registry, *otlp, BuilderOptions());
  if (!spans.ok()) {
    spdlog::error("spans disabled: {}", spans.error().message);
    return;
  }
  spans_ = std::move(spans.value());
  pipeline_->AddConsumer(spans_->consumer());
  spdlog::info("exporting request spans to {}", otlp->TracesUrl());
}

void SocketsSource::Start() {
  if (auto s = probe_->Attach(); !s) {
    error_ = s.message();
    return;
  }
  attached_ = true;
  if (context_.config.otlp.propagate_traceparent) StartPropagation();
  if (context_.config.probes.tls) {
    probe_->AttachTlsLibraries(context_.config.proc_root);
    probe_->WatchTlsLibraries(context_.config.proc_root);
  }
  pipeline_->Start(probe_.get());
}

void SocketsSource::StartPropagation() {
  PropagationProbeOptions po;
  po.cgroup = context_.config.otlp.propagate_cgroup;
  po.self_tgid = static_cast<uint32_t>(getpid());
  propagation_ =
      std::make_unique<PropagationProbe>(context_.features, context_.filter, probe_.get(), po);
  if (auto s = propagation_->Attach(); !s) {
    propagation_error_ = s.message();
    spdlog::error("traceparent propagation off: {}", s.message());
    propagation_.reset();
    return;
  }
  auto& requests = CounterFamily(context_.registry, "zerotrace_propagation_requests_total");
  // In enum prop_stat order (bpf/propagation.h).
  for (const char* outcome :
       {"injected_thread", "injected_new", "had_traceparent", "head_not_whole", "push_failed"}) {
    propagation_counts_.emplace_back(requests.Add({{"outcome", outcome}}));
  }
  propagation_counts_.emplace_back(
      CounterFamily(context_.registry, "zerotrace_propagation_connections_untracked_total")
          .Add({}));
  spdlog::info(
      "traceparent propagation on: HTTP/1 requests on TCP connections established in "
      "cgroup {} from now on",
      propagation_->cgroup());
  if (!spans_) {
    spdlog::warn("traceparent propagation without span export: callees continue new traces only");
  }
}

std::vector<ProbeState> SocketsSource::probes() const {
  ProbeState p;
  p.name = "sockets";
  p.probe = probe_.get();
  p.attached = attached_;
  p.error = error_;
  p.attaches_uprobes = true;
  std::vector<ProbeState> out{p};
  if (context_.config.otlp.propagate_traceparent) {
    ProbeState q;
    q.name = "propagation";
    q.probe = propagation_.get();
    q.attached = propagation_ != nullptr;
    q.error = attached_ ? propagation_error_ : "the sockets probe is not attached";
    out.push_back(q);
  }
  return out;
}

void SocketsSource::Refresh() {
  pipeline_->Refresh();
  if (!propagation_) return;
  const auto stats = propagation_->Stats();
  for (size_t k = 0; k < stats.size() && k < propagation_counts_.size(); ++k) {
    propagation_counts_[k].Update(stats[k]);
  }
}

void SocketsSource::Housekeeping(const Tick& tick) {
  if (attached_ && context_.config.probes.tls && tick.scan_libraries) {
    probe_->AttachTlsLibraries(context_.config.proc_root);
  }
}

void SocketsSource::Stop() {
  if (stopped_) return;
  stopped_ = true;
  pipeline_->Stop();
  if (spans_) spans_->Shutdown();  // bounded final flush
}

}  // namespace zerotrace
