#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "gpu/gpu_tracing.h"
#include "sources/source.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace {

namespace tracing {
class SpanPipeline;
}

// CUDA and CUPTI: driver uprobes and the injection library's records, drained by a thread of
// its own into GPU metrics, GPU flamegraphs and, when spans are exported, kernel spans in the
// trace of the request that launched them.
class GpuSource : public Source {
 public:
  // `symbolizer`: the profilers' user-space symbolizer when they run (each binary's symbols read
  // once), else null and the source makes its own. `spans`: null when spans are off.
  GpuSource(const SourceContext& context, symbolizer::SymbolizerPtr symbolizer,
            tracing::SpanPipeline* spans);
  ~GpuSource() override;
  const char* name() const override { return "gpu"; }
  void Start() override;
  std::vector<ProbeState> probes() const override;
  void Housekeeping(const Tick& tick) override;
  void Stop() override;

  // Null when GPU tracing could not start.
  gpu::GpuTracing* tracing() const { return gpu_.get(); }

 private:
  SourceContext context_;
  symbolizer::SymbolizerPtr symbolizer_;
  tracing::SpanPipeline* spans_;
  std::unique_ptr<gpu::GpuTracing> gpu_;
  std::string error_;
  std::thread poller_;  // drains the GPU ring buffers between ticks
  std::atomic<bool> stop_{false};
};

}  // namespace zerotrace
