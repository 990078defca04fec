#include "sources/sockets_source.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

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
  probe_ =
      std::make_unique<SocketsProbe>(context.features, context.filter, opts, pipeline_->Handler());
}

SocketsSource::~SocketsSource() { Stop(); }

void SocketsSource::StartSpans() {
  const auto& c = context_.config.otlp;
  if (!c.file.empty()) {
    auto spans = tracing::SpanPipeline::CreateFile(context_.catalog, c.file);
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
  tracing::SpanBuilderOptions so;
  so.sampler.ratio = c.sampling_ratio;
  so.sampler.keep_errors = c.keep_errors;
  so.sampler.keep_slower_than_ns = static_cast<uint64_t>(c.keep_slower_than.count()) * 1000000ull;
  auto spans = tracing::SpanPipeline::Create(context_.catalog, &context_.registry, *otlp, so);
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
  if (context_.config.probes.tls) {
    probe_->AttachTlsLibraries(context_.config.proc_root);
    probe_->WatchTlsLibraries(context_.config.proc_root);
  }
  pipeline_->Start(probe_.get());
}

std::vector<ProbeState> SocketsSource::probes() const {
  ProbeState p;
  p.name = "sockets";
  p.probe = probe_.get();
  p.attached = attached_;
  p.error = error_;
  p.attaches_uprobes = true;
  return {p};
}

void SocketsSource::Refresh() { pipeline_->Refresh(); }

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
