#pragma once

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/cumulative_counter.h"
#include "core/features.h"
#include "core/result.h"
#include "core/self_metrics.h"
#include "http/http_server.h"
#include "k8s/pod_metadata_client.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "process/process_catalog.h"
#include "sources/registry.h"

namespace zerotrace {

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
  // One probe of a source, with its zerotrace_probe_* series.
  struct ProbeSlot {
    ProbeState state;
    std::unique_ptr<CumulativeCounter> lost;
    std::unique_ptr<CumulativeCounter> stacks_lost;
    prometheus::Gauge* uprobe_targets = nullptr;
  };
  struct ProgramCounters {
    std::unique_ptr<CumulativeCounter> run_seconds;
    std::unique_ptr<CumulativeCounter> runs;
  };

  void StartSources();
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
  SourceSet sources_;
  std::vector<ProbeSlot> probes_;  // every source's probes, in the sources' order
  std::map<std::string, ProgramCounters> program_counters_;
  int stats_fd_ = -1;
  uint64_t tick_ = 0;
  std::chrono::steady_clock::time_point last_trim_{};
  std::mutex refresh_mu_;
  http::Server server_;
};

}  // namespace zerotrace
