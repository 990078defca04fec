#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/expiring_series.h"
#include "core/features.h"
#include "core/result.h"
#include "probes/offcpu_probe.h"
#include "probes/oncpu_probe.h"
#include "probes/process_filter.h"
#include "process/process_catalog.h"
#include "profiling/profile_collector.h"
#include "profiling/unwind_metrics.h"

namespace zerotrace::profiling {

struct ProfilingServiceOptions {
  bool oncpu = true;
  bool offcpu = true;
  OnCpuOptions oncpu_options;
  OffCpuOptions offcpu_options;
  // Where the host's /proc is (binaries of other processes are read through PROC_ROOT/PID/root).
  std::string proc_root = "/proc";
};

// A rendered flamegraph: body plus its media type.
struct RenderedProfile {
  std::string body;
  std::string content_type;
};

// The daemon's continuous profiling: owns the on-CPU and off-CPU collectors (sharing one
// symbolizer cache), feeds zerotrace_oncpu_samples_total / zerotrace_offcpu_seconds_total per
// service on every tick, and records on-demand flamegraphs for /flamegraph.
class ProfilingService {
 public:
  ProfilingService(Features& features, ProcessFilter& filter, ProcessCatalog& catalog,
                   prometheus::Registry& registry, const ProfilingServiceOptions& options);

  // Each collector's probe, or the reason it could not attach. Probes are owned here.
  ProfileCollector* oncpu() const { return oncpu_.get(); }
  ProfileCollector* offcpu() const { return offcpu_.get(); }
  const std::string& oncpu_error() const { return oncpu_error_; }
  const std::string& offcpu_error() const { return offcpu_error_; }

  // Drains the kernel maps, symbolizes while processes live, updates the counters.
  void Tick();

  // Records `type` ("oncpu" | "offcpu") for `seconds` (pid 0 = every traced process) and renders
  // it as "svg" | "folded" | "pprof". `stop` ends the recording early (shutdown).
  Result<RenderedProfile> Record(const std::string& type, std::chrono::milliseconds duration,
                                 uint32_t pid, const std::string& format,
                                 const std::function<bool()>& stop);

  // The user-space symbolizer the profilers use (null when none could be made): other consumers
  // (GPU launch stacks) share it, so each binary's symbols are read and held once.
  symbolizer::SymbolizerPtr user_symbolizer() const { return user_symbolizer_; }

 private:
  ProcessCatalog& catalog_;
  symbolizer::SymbolizerPtr user_symbolizer_;
  symbolizer::SymbolizerPtr kernel_symbolizer_;
  std::unique_ptr<ProfileCollector> oncpu_, offcpu_;
  std::string oncpu_error_, offcpu_error_;
  prometheus::Family<prometheus::Counter>& oncpu_samples_;
  prometheus::Family<prometheus::Counter>& offcpu_seconds_;
  // Per-service series leave after 10 minutes without samples (pods come and go).
  ExpiringSeries<prometheus::Counter> oncpu_series_;
  ExpiringSeries<prometheus::Counter> offcpu_series_;
  prometheus::Gauge& kernel_symbols_bytes_;
  prometheus::Gauge& user_symbols_bytes_;
  UnwindMetrics unwind_metrics_;
};

// Renders a profile in one of the flamegraph formats.
Result<RenderedProfile> RenderProfile(const profile::Profile& profile, const std::string& format,
                                      const std::string& title);

}  // namespace zerotrace::profiling
