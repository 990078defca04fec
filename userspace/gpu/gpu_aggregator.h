#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bpf/cupti.h"
#include "chrome/trace.h"
#include "core/expiring_series.h"
#include "core/gpu_kernel_run.h"
#include "gpu/gpu_labels.h"
#include "gpu/gpu_leaks.h"
#include "gpu/gpu_profile.h"
#include "gpu/gpu_timeline.h"
#include "gpu/kernel_names.h"
#include "process/process_catalog.h"
#include "profile/profile.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::gpu {

// What the events only reference, looked up in the probes' maps. Any member may be empty (tests,
// or a probe that is not attached): stacks then stay empty and every process counts as one
// without the injector.
struct GpuSources {
  // User stack of an id in `cuda_stacks` / `cupti_stacks`, leaf first.
  std::function<std::vector<uint64_t>(int32_t stack_id)> cuda_stack;
  std::function<std::vector<uint64_t>(int32_t stack_id)> cupti_stack;
  // The launching thread of a kernel record, removed from `launch_stacks`.
  std::function<std::optional<cupti_launch_info>(uint32_t tgid, uint32_t correlation_id)>
      take_launch;
  // True when the process mapped libzerotrace_cupti (its GPU-side numbers come from CUPTI).
  // Asked at driver events, which can come before the process's first CUPTI record.
  std::function<bool(uint32_t tgid)> has_injector;
};

struct GpuAggregatorOptions {
  size_t max_kernels_per_service = 100;          // distinct `kernel` label values, then "other"
  size_t max_kernel_name_len = 96;               // metric label length (see ShortenKernelName)
  size_t max_trace_slices = 200000;              // Chrome trace: the last N slices (and N/2 flows)
  size_t max_profile_stacks = 20000;             // distinct stacks in the cumulative GPU profile
  size_t max_allocations_per_process = 1 << 20;  // tracked outstanding allocations
  // A per-service series (launches, kernel and memcpy figures, sync wait) idle this long leaves
  // /metrics, and a service idle this long forgets its kernel label bound; zero keeps all.
  std::chrono::nanoseconds series_ttl = std::chrono::minutes(10);
  // Symbolizes launch and allocation stacks; null keeps raw addresses (`0x...` frames).
  symbolizer::SymbolizerPtr symbolizer;
  // Called for each kernel execution with a known launch (e.g. GPU spans); may be empty.
  std::function<void(const GpuKernelRun&)> on_kernel;
};

// Counters for tests and self-metrics.
struct GpuAggregatorStats {
  uint64_t cuda_events = 0;
  uint64_t cupti_events = 0;
  uint64_t kernels = 0;
  uint64_t kernels_with_launch_stack = 0;
  uint64_t unknown_frees = 0;     // frees of allocations made before we attached
  uint64_t injector_dropped = 0;  // CUPTI drops + rate-cap skips reported by injectors
};

// Turns the cuda (driver uprobes) and cupti (injector USDT) events into metrics, leak reports,
// GPU flamegraphs and Chrome traces. Which path feeds what, so nothing is counted twice:
//  - kernel launches (counts), allocations/frees/leaks: driver uprobes;
//  - kernel GPU time, busy time, flamegraph: CUPTI kernel records;
//  - memcpy bytes/duration and sync wait: CUPTI for processes with the injector (the runtime
//    does not always call the exported driver symbols, CUPTI sees every call), driver uprobes
//    otherwise (the memcpy duration is then the time in the call);
//  - outstanding memory: driver uprobes, CUPTI MEMORY2 for processes without driver allocations.
// `call` labels of the sync wait: context, stream, event (and stream_wait_event from CUPTI).
// Thread-safe: the daemon polls on one thread and serves reports on others.
class GpuAggregator {
 public:
  using RecordingId = GpuProfile::RecordingId;

  GpuAggregator(prometheus::Registry& registry, ProcessCatalog& catalog, GpuSources sources,
                GpuAggregatorOptions options = {});
  ~GpuAggregator();
  GpuAggregator(const GpuAggregator&) = delete;
  GpuAggregator& operator=(const GpuAggregator&) = delete;

  // One ring buffer event of each probe (starting with cuda_event_header / cupti_event_header).
  void OnCudaEvent(const void* data, size_t size);
  void OnCuptiEvent(const void* data, size_t size);

  // GPU flamegraph (type kGpu, ns of kernel execution): CPU launch stack + `[gpu] kernel`.
  // Cumulative since start (bounded), for `pids` (empty = all).
  profile::Profile Profile(const std::set<uint32_t>& pids = {}) const;
  // A recording collects the kernels processed between Start and Stop.
  RecordingId StartRecording(std::set<uint32_t> pids = {});
  profile::Profile StopRecording(RecordingId id);

  // Chrome trace of the retained records (the last max_trace_slices) that started at or after
  // `since_ns` (CLOCK_MONOTONIC), for `pids` (empty = all).
  chrome::Trace ChromeTrace(const std::set<uint32_t>& pids = {}, int64_t since_ns = 0) const;

  // Outstanding allocations per process, largest first, `top_sites` sites each. Processes seen
  // only through CUPTI MEMORY2 records get one site without a stack.
  std::vector<ProcessLeaks> Leaks(size_t top_sites = 10) const;
  // The same as text: one block per process, the `top_n` largest sites with their stacks.
  std::string LeakReport(size_t top_n = 10) const;

  // Forgets stacks cached by id after a probe emptied its stack map (ids get reused).
  void ForgetStacks(bool cuda, bool cupti);
  // Drops per-process state of processes that exited.
  void ForgetProcesses(const std::vector<uint32_t>& pids);
  // Removes per-service series idle for `series_ttl` (steady_clock ns, see SteadyNs()).
  void RemoveIdleSeries(uint64_t now_ns);
  // Per-service series currently exported (launches, kernel/memcpy figures, sync wait).
  size_t series_count() const;
  GpuAggregatorStats stats() const;

 private:
  struct ProcessState {
    std::string service;
    prometheus::Labels identity;  // service_name + k8s_* labels of every series of the process
    std::string identity_key;     // the same as one map key (service, then k8s name=value)
    bool driver_seen = false;     // any cuda uprobe event
    bool cupti_seen = false;
    std::unordered_map<uint64_t, std::string> names;  // CUfunction/CUkernel -> mangled name
    std::unordered_map<uint64_t, uint64_t> aliases;   // CUfunction -> CUkernel
    uint64_t dropped_cupti = 0, dropped_rate = 0;
    bool prepared = false;
    prometheus::Gauge* memory_gauge = nullptr;
  };
  ProcessState& State(uint32_t tgid);
  bool HasInjector(uint32_t tgid, const ProcessState& p) const;
  enum class StackSource { kCuda = 0, kCupti = 1 };
  // `caller`: the return address at a uprobe's function entry (0: unknown), put back as the
  // second frame where the kernel's walk left it out (bpf/cuda.h, cuda_entry.caller).
  FramesPtr ResolveStack(StackSource source, uint32_t tgid, ProcessState& p, int32_t stack_id,
                         uint64_t caller = 0);
  using TraceRecord = GpuTimeline::Record;
  void UpdateMemoryGauge(ProcessState& p);
  // A process's service, "unknown" once forgotten (the profile's stack roots).
  std::string ServiceOf(uint32_t pid) const;

  // The series of (the process's identity labels, second label) in `series`; marks the service
  // active.
  template <typename Metric, typename... Args>
  Metric& SeriesFor(ExpiringSeries<Metric>& series, const ProcessState& p, const char* label_name,
                    const std::string& label_value, Args&&... args);
  prometheus::Counter& CounterFor(ExpiringSeries<prometheus::Counter>& series,
                                  const ProcessState& p, const char* label_name,
                                  const std::string& label_value);
  prometheus::Histogram& HistogramFor(ExpiringSeries<prometheus::Histogram>& series,
                                      const ProcessState& p, const char* label_name,
                                      const std::string& label_value);
  void HandleLaunch(const void* data);
  void HandleCuptiKernel(const cupti_kernel_event& e);
  void HandleCuptiMemcpy(const cupti_memcpy_event& e);

  prometheus::Registry& registry_;
  ProcessCatalog& catalog_;
  GpuSources sources_;
  GpuAggregatorOptions options_;

  prometheus::Family<prometheus::Counter>& launches_;
  prometheus::Family<prometheus::Histogram>& kernel_duration_;
  prometheus::Family<prometheus::Counter>& memcpy_bytes_;
  prometheus::Family<prometheus::Histogram>& memcpy_duration_;
  prometheus::Family<prometheus::Gauge>& memory_allocated_;
  prometheus::Family<prometheus::Counter>& busy_;
  prometheus::Family<prometheus::Counter>& sync_wait_;

  mutable std::mutex mu_;
  KernelNameCache kernel_names_;
  LabelBound kernel_labels_;
  std::unordered_map<uint32_t, ProcessState> procs_;
  // Per-service series, keyed by service \x1f label value; they expire when idle.
  ExpiringSeries<prometheus::Counter> launch_series_;
  ExpiringSeries<prometheus::Histogram> kernel_duration_series_;
  ExpiringSeries<prometheus::Counter> memcpy_bytes_series_;
  ExpiringSeries<prometheus::Histogram> memcpy_duration_series_;
  ExpiringSeries<prometheus::Counter> sync_wait_series_;
  std::unordered_map<std::string, uint64_t> service_last_ns_;  // for the kernel label bound
  std::unordered_map<uint32_t, prometheus::Counter*> busy_counters_;
  // Per-device busy accounting: end of the last counted interval.
  std::unordered_map<uint32_t, uint64_t> busy_until_;
  // Resolved stacks by (source, tgid, stack id): ids are stable while the stack maps are not
  // cleared, and interning lets profile keys compare stacks by pointer. Bounded.
  struct StackKey {
    uint64_t id;  // source, tgid, stack id
    uint64_t caller;
    bool operator==(const StackKey&) const = default;
  };
  struct StackKeyHash {
    size_t operator()(const StackKey& k) const {
      return std::hash<uint64_t>()(k.id) ^
             (std::hash<uint64_t>()(k.caller) * 0x9e3779b97f4a7c15ull);
    }
  };
  std::unordered_map<StackKey, FramesPtr, StackKeyHash> stack_cache_;
  GpuLeaks leaks_;        // outstanding allocations (zerotrace_gpu_memory_allocated_bytes)
  GpuProfile profile_;    // the GPU flamegraph: cumulative and recordings
  GpuTimeline timeline_;  // the Chrome trace
  GpuAggregatorStats stats_;
};

}  // namespace zerotrace::gpu
