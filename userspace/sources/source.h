#pragma once

#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "aggregators/conn_tracker.h"
#include "core/config.h"
#include "core/features.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "process/process_catalog.h"

namespace zerotrace {

// What every source is built with: the configuration, the kernel's features, the process
// selection and catalog, and the registry its metrics go to. All outlive the sources.
struct SourceContext {
  const Config& config;
  Features& features;
  ProcessFilter& filter;
  ProcessCatalog& catalog;
  prometheus::Registry& registry;
  // Readers of completed requests besides the RED metrics and spans (`attach`'s endpoint table).
  std::vector<RequestConsumer*> request_consumers = {};
};

// One probe a source drives, as the daemon reports it (zerotrace_probe_*, /ready, the log).
struct ProbeState {
  std::string name;
  Probe* probe = nullptr;  // null when the probe could not even be created
  bool attached = false;
  std::string error;  // why not attached
  // Probes that capture stacks: samples counted without (part of) their stack.
  std::function<uint64_t()> stacks_lost;
  bool attaches_uprobes = false;  // zerotrace_uprobe_targets{probe}
};

// One feature from end to end (design §9): its probes, the thread that reads them and what it
// contributes (metrics, spans, profiles). The daemon drives every source the same way:
//   Start()         attach and start reading; a failure is reported in probes(), never fatal;
//   Refresh()       bring metrics up to date (per scrape and per tick, under the daemon's lock):
//                   reads of kernel maps and aggregated values only, nothing slow;
//   Housekeeping()  per tick: library rescans, forgetting processes that exited;
//   Stop()          stop and join its threads (sources stop in reverse order of creation, so
//                   a source never outlives one it feeds); the destructor detaches.
class Source {
 public:
  virtual ~Source() = default;
  virtual const char* name() const = 0;
  virtual void Start() = 0;
  virtual std::vector<ProbeState> probes() const = 0;
  virtual void Refresh() {}
  struct Tick {
    bool scan_libraries = false;   // every 5th tick: reading every process's maps is costly
    std::vector<uint32_t> exited;  // processes the catalog saw exit since the last tick
    uint64_t now_ns = 0;           // steady_clock (SteadyNs())
  };
  virtual void Housekeeping(const Tick& tick) { (void)tick; }
  virtual void Stop() {}
};

}  // namespace zerotrace
