#pragma once

#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/features.h"
#include "core/result.h"
#include "gpu/gpu_aggregator.h"
#include "probes/cuda_probe.h"
#include "probes/cupti_probe.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "process/process_catalog.h"
#include "profile/profile.h"

namespace zerotrace::gpu {

struct GpuOptions {
  bool cuda = true;   // driver uprobes on libcuda.so.1
  bool cupti = true;  // USDT probes of libzerotrace_cupti.so
  std::string proc_root = "/proc";
  bool scan_processes = true;
  std::vector<std::string> libcuda_paths;  // attached besides what the scan finds
  std::vector<std::string> cupti_paths;    // binaries with the zerotrace USDT probes
  bool cfi_unwind = true;                  // launch/allocation stacks walked with CFI
  uint32_t unwind_rows = 1u << 20;         // if GPU tracing creates the shared CFI tables
  GpuAggregatorOptions aggregator;
};

// The daemon's handle on GPU tracing: both probes, the aggregator between them and the outputs.
//   auto gpu = GpuTracing::Create(features, filter, catalog, registry, {});
//   if (gpu && (*gpu)->Attach()) { ...; every tick: (*gpu)->Poll(0); every interval: Rescan() }
// Thread-safe: Poll()/Rescan() serialize (Record() polls too, e.g. from an HTTP handler while
// the daemon's loop polls); the report methods may run on any thread.
class GpuTracing {
 public:
  static Result<std::unique_ptr<GpuTracing>> Create(Features& features, ProcessFilter& filter,
                                                    ProcessCatalog& catalog,
                                                    prometheus::Registry& registry,
                                                    GpuOptions options = {});
  ~GpuTracing();
  GpuTracing(const GpuTracing&) = delete;
  GpuTracing& operator=(const GpuTracing&) = delete;

  // Loads and attaches the enabled probes. Succeeds when at least one attached; the other's
  // error is kept in warnings(). With no driver or injector mapped yet nothing is attached until
  // a Rescan() finds one.
  Status Attach();
  // The attached probes, for self-metrics (attach mode, program stats, events lost).
  std::vector<Probe*> probes();
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Waits up to timeout_ms for events of either probe, then drains both. Returns events handled.
  int Poll(int timeout_ms);
  // Attaches to driver/injector libraries mapped since the last scan, and empties stack maps
  // that are filling up (call once per interval, e.g. every 10 s).
  Status Rescan();
  // Drops state of exited processes (the daemon's ProcessCatalog::Sweep() result).
  void ForgetProcesses(const std::vector<uint32_t>& pids) { aggregator_->ForgetProcesses(pids); }
  // Per-service GPU series idle past their TTL leave /metrics (steady_clock ns).
  void RemoveIdleSeries(uint64_t now_ns) { aggregator_->RemoveIdleSeries(now_ns); }

  // GPU flamegraph since start (pid 0 = all processes).
  profile::Profile GpuProfile(uint32_t pid = 0) const;
  // GPU flamegraph of the kernels processed during `duration` (polls every `poll_interval`
  // itself; stop() ends early; started() is called once the recording collects). For
  // `/flamegraph?type=gpu&seconds=N` and `attach --profile gpu`.
  profile::Profile Record(std::chrono::milliseconds duration, std::set<uint32_t> pids = {},
                          std::chrono::milliseconds poll_interval = std::chrono::milliseconds(200),
                          const std::function<bool()>& stop = {},
                          const std::function<void()>& started = {});
  // Chrome trace JSON of the retained records since `since_ns` (CLOCK_MONOTONIC; 0 = all).
  std::string ChromeTraceJson(uint32_t pid = 0, int64_t since_ns = 0) const;
  Status WriteChromeTrace(const std::string& path, uint32_t pid = 0, int64_t since_ns = 0) const;
  std::string LeakReport(size_t top_n = 10) const { return aggregator_->LeakReport(top_n); }
  // `attach --profile gpu`: writes gpu.folded, gpu.svg, gpu.pb.gz (from `profile`) and
  // gpu_trace.json (records of `pid`, 0 = all, since `since_ns`) into `dir`; returns the paths.
  Result<std::vector<std::string>> WriteFiles(const std::string& dir,
                                              const profile::Profile& profile, uint32_t pid = 0,
                                              int64_t since_ns = 0) const;
  // Terminal summary: the `top_n` kernels by GPU time in `profile`, then the leak report.
  std::string Summary(const profile::Profile& profile, size_t top_n = 15) const;

  GpuAggregator& aggregator() { return *aggregator_; }
  CudaProbe* cuda_probe() { return cuda_attached_ ? cuda_.get() : nullptr; }
  CuptiProbe* cupti_probe() { return cupti_attached_ ? cupti_.get() : nullptr; }
  // Kernel-side drops of both probes plus records the injectors dropped or skipped (the sum of
  // the probes' events_lost()).
  uint64_t events_lost() const;

 private:
  GpuTracing() = default;

  GpuOptions options_;
  std::unique_ptr<GpuAggregator> aggregator_;
  std::unique_ptr<CudaProbe> cuda_;
  std::unique_ptr<CuptiProbe> cupti_;
  bool cuda_attached_ = false;
  bool cupti_attached_ = false;
  int epoll_fd_ = -1;
  std::mutex poll_mu_;  // Poll()/Rescan() from the daemon's loop and from Record() on another
  // has_injector answers per process: the injector is mapped during cuInit, before any driver
  // call we probe, so one look at the maps decides; "no" is looked at again after a second.
  std::map<uint32_t, std::pair<bool, std::chrono::steady_clock::time_point>> injector_cache_;
  std::vector<std::string> warnings_;
};

}  // namespace zerotrace::gpu
