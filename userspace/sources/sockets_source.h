#pragma once

#include <memory>
#include <string>

#include "aggregators/request_pipeline.h"
#include "core/cumulative_counter.h"
#include "probes/propagation_probe.h"
#include "probes/sockets_probe.h"
#include "sources/source.h"
#include "spans/span_builder.h"

namespace zerotrace {

// HTTP/1, HTTP/2 and gRPC from the sockets probe (and OpenSSL's plaintext through its TLS
// uprobes): the request pipeline's thread reads the probe's rings into RED metrics and, when an
// OTLP endpoint is configured, spans.
class SocketsSource : public Source {
 public:
  explicit SocketsSource(const SourceContext& context);
  ~SocketsSource() override;
  const char* name() const override { return "sockets"; }
  void Start() override;
  std::vector<ProbeState> probes() const override;
  void Refresh() override;
  void Housekeeping(const Tick& tick) override;
  void Stop() override;

  // The span pipeline, when spans are exported (GPU kernels join the request's trace through it).
  tracing::SpanPipeline* spans() const { return spans_.get(); }
  const SocketsProbe& probe() const { return *probe_; }

 private:
  void StartSpans();
  tracing::SpanBuilderOptions BuilderOptions() const;
  void StartPropagation();

  SourceContext context_;
  std::unique_ptr<RequestPipeline> pipeline_;
  std::unique_ptr<tracing::SpanPipeline> spans_;
  // Declared after the pipeline: destroyed first, once Stop() joined the thread reading its rings.
  std::unique_ptr<SocketsProbe> probe_;
  // traceparent propagation (otlp.propagate_traceparent); after probe_: detached first.
  std::unique_ptr<PropagationProbe> propagation_;
  std::string propagation_error_;
  std::vector<CumulativeCounter> propagation_counts_;  // by enum prop_stat, then untracked
  bool attached_ = false;
  bool stopped_ = false;
  std::string error_;
};

}  // namespace zerotrace
