#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aggregators/request_pipeline.h"
#include "core/config.h"
#include "core/cumulative_counter.h"
#include "core/features.h"
#include "core/result.h"
#include "core/self_metrics.h"
#include "gpu/gpu_tracing.h"
#include "http/http_server.h"
#include "k8s/pod_metadata_client.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "probes/sockets_probe.h"
#include "process/process_catalog.h"
#include "profiling/profiling_service.h"
#include "spans/span_builder.h"

namespace zerotrace {

class SyscallAggregator;

// The kernel's features, minus any the operator disabled with ZEROTRACE_DISABLE_FEATURES.
std::unique_ptr<Features> MakeFeatures();

// `zerotrace run`: loads the enabled probes, serves /metrics, /health and /ready, and reads the
// kernel maps on an interval until SIGINT/SIGTERM.
class Daemon {
 public:
  explicit Daemon(Config config);
  ~Daemon();

  // Everything up to serving; an error here is fatal and already worded for the user.
  Status Start();
  // Blocks until SIGINT or SIGTERM (which the caller must have blocked in every thread).
  void RunUntilSignalled();
  void Shutdown();

 private:
  // One enabled probe. Loaders the daemon drives itself are owned here (`owned`); collectors own
  // theirs and hand over a pointer, already attached, or an error.
  struct ProbeSlot {
    ProbeSlot(std::string n, std::unique_ptr<Probe> p)
        : name(std::move(n)), probe(p.get()), owned(std::move(p)) {}
    ProbeSlot(std::string n, Probe* p, std::string why)
        : name(std::move(n)), probe(p), attached(p != nullptr), error(std::move(why)) {}
    std::string name;
    Probe* probe = nullptr;
    std::unique_ptr<Probe> owned;
    bool attached = false;
    std::string error;
    std::unique_ptr<CumulativeCounter> lost;
    // Probes that capture stacks: samples counted without (part of) their stack.
    std::function<uint64_t()> stacks_lost;
    std::unique_ptr<CumulativeCounter> stacks_lost_counter;
    prometheus::Gauge* uprobe_targets = nullptr;  // probes that attach uprobes to libraries
  };
  struct ProgramCounters {
    std::unique_ptr<CumulativeCounter> run_seconds;
    std::unique_ptr<CumulativeCounter> runs;
  };

  void StartProbes();
  void StartSpans();  // when an OTLP endpoint is configured
  void StartGpu();
  void RegisterSelfMetrics();
  void Refresh();  // reads all kernel state into the registry; called per scrape and per tick
  void Housekeeping();
  // zerotrace_uprobe_targets{probe}: the library files each uprobe-attaching probe covers now.
  void UpdateUprobeTargets();
  http::Response Metrics();
  http::Response Health() const;
  http::Response Ready();
  http::Response Flamegraph(const http::Request& request);

  Config config_;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Features> features_;
  std::unique_ptr<zerotrace::k8s::PodMetadataClient> pods_;
  std::unique_ptr<ProcessCatalog> catalog_;
  std::unique_ptr<ProcessFilter> filter_;
  std::unique_ptr<SelfMetrics> self_metrics_;
  std::vector<ProbeSlot> probes_;
  std::unique_ptr<SyscallAggregator> syscalls_;
  std::unique_ptr<RequestPipeline> pipeline_;
  std::unique_ptr<tracing::SpanPipeline> spans_;
  std::unique_ptr<profiling::ProfilingService> profiling_;
  std::unique_ptr<gpu::GpuTracing> gpu_;
  std::thread gpu_poller_;  // drains the GPU ring buffers between ticks
  std::atomic<bool> gpu_stop_{false};
  SocketsProbe* sockets_ = nullptr;  // owned by probes_
  std::unique_ptr<CumulativeCounter> syscall_events_;
  prometheus::Gauge* syscall_entries_ = nullptr;
  std::map<std::string, ProgramCounters> program_counters_;
  int stats_fd_ = -1;
  uint64_t tick_ = 0;
  std::chrono::steady_clock::time_point last_trim_{};
  std::mutex refresh_mu_;
  http::Server server_;
};

}  // namespace zerotrace
