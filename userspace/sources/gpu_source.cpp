#include "sources/gpu_source.h"

#include <spdlog/spdlog.h>

#include "profiling/profile_collector.h"
#include "spans/span_builder.h"

namespace zerotrace {

GpuSource::GpuSource(const SourceContext& context, symbolizer::SymbolizerPtr symbolizer,
                     tracing::SpanPipeline* spans)
    : context_(context), symbolizer_(std::move(symbolizer)), spans_(spans) {}

GpuSource::~GpuSource() { Stop(); }

void GpuSource::Start() {
  const Config& c = context_.config;
  gpu::GpuOptions go;
  go.cuda = c.probes.cuda;
  go.cupti = c.probes.cupti;
  go.proc_root = c.proc_root;
  go.cfi_unwind = c.profiling.unwind_method == "cfi";
  go.unwind_rows = c.profiling.unwind_max_rows;
  if (symbolizer_) {
    go.aggregator.symbolizer = symbolizer_;
  } else if (auto sym = profiling::MakeDefaultSymbolizers("/proc/kallsyms", c.proc_root)) {
    go.aggregator.symbolizer = sym->user;
  }
  if (spans_) {
    // Kernels launched while a thread serves a request become spans in that request's trace.
    go.aggregator.on_kernel = [spans = spans_](const GpuKernelRun& k) {
      spans->builder().OnGpuKernel(k);
    };
  }
  auto g = gpu::GpuTracing::Create(context_.features, context_.filter, context_.catalog,
                                   context_.registry, go);
  if (!g) {
    error_ = g.error().message;
    return;
  }
  gpu_ = std::move(g.value());
  if (auto s = gpu_->Attach(); !s) {
    error_ = s.message();
    gpu_.reset();
    return;
  }
  for (const auto& w : gpu_->warnings()) spdlog::info("gpu: {}", w);
  poller_ = std::thread([this] {
    while (!stop_) gpu_->Poll(100);
  });
}

std::vector<ProbeState> GpuSource::probes() const {
  std::vector<ProbeState> out;
  if (!gpu_) {
    // Both report the reason: neither can run without the aggregator between them.
    for (const char* name : {"cuda", "cupti"}) {
      ProbeState p;
      p.name = name;
      p.error = error_;
      out.push_back(std::move(p));
    }
    return out;
  }
  for (Probe* probe : gpu_->probes()) {
    ProbeState p;
    p.name = probe->name();
    p.probe = probe;
    p.attached = true;
    p.attaches_uprobes = true;
    out.push_back(std::move(p));
  }
  return out;
}

void GpuSource::Housekeeping(const Tick& tick) {
  if (!gpu_) return;
  if (tick.scan_libraries) {
    if (auto s = gpu_->Rescan(); !s) spdlog::warn("gpu: {}", s.message());
  }
  gpu_->ForgetProcesses(tick.exited);
  gpu_->RemoveIdleSeries(tick.now_ns);
}

void GpuSource::Stop() {
  stop_ = true;
  if (!poller_.joinable()) return;
  poller_.join();
  // What the kernel recorded until now (a launch made just before Ctrl-C) is still read.
  gpu_->Poll(0);
}

}  // namespace zerotrace
