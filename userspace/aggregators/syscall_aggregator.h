#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/expiring_series.h"
#include "process/process_catalog.h"
#include "syscalls.h"

namespace zerotrace {

// Reads the syscall probe's in-kernel aggregates and turns them into Prometheus series by
// (service_name, syscall). Kernel values are cumulative per map entry; the aggregator keeps the
// last value it saw and adds only the growth, so exported counters stay monotonic even when
// entries of exited processes are deleted from the map.
class SyscallAggregator {
 public:
  // `series_ttl`: a (service, syscall) series not updated for this long is removed from the
  // registry, so a node that runs ever new short-lived commands (CI runners, cron) does not grow
  // its series without end; it comes back at 0 when the service calls it again (Prometheus treats
  // that as a counter reset). Zero keeps every series.
  SyscallAggregator(prometheus::Registry& registry, ProcessCatalog& catalog, int stats_map_fd,
                    std::chrono::seconds series_ttl = std::chrono::minutes(10));

  // Reads the map and updates the series. Entries of processes that exited are read one last
  // time and then deleted from the kernel map and from memory.
  void Collect(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

  size_t series() const;

  uint64_t events_seen() const { return events_seen_; }
  size_t tracked_entries() const;

 private:
  struct Seen {
    syscall_stats last{};
    std::string service;
    std::map<std::string, std::string> k8s;  // k8s_* labels, empty off Kubernetes
  };
  struct KeyHash {
    size_t operator()(const syscall_key& k) const {
      return (static_cast<size_t>(k.tgid) << 32) ^ k.nr;
    }
  };
  struct KeyEq {
    bool operator()(const syscall_key& a, const syscall_key& b) const {
      return a.tgid == b.tgid && a.nr == b.nr;
    }
  };

  void Apply(const syscall_key& key, const syscall_stats& now, Seen& seen,
             std::chrono::steady_clock::time_point at);

  ProcessCatalog& catalog_;
  int stats_fd_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Histogram>& duration_;
  mutable std::mutex mu_;
  std::unordered_map<syscall_key, Seen, KeyHash, KeyEq> seen_;
  // One key for the three families' series of a (service, syscall).
  ExpiringSeries<prometheus::Counter> calls_series_;
  ExpiringSeries<prometheus::Counter> errors_series_;
  ExpiringSeries<prometheus::Histogram> duration_series_;
  uint64_t last_sweep_ns_ = 0;
  uint64_t events_seen_ = 0;
};

}  // namespace zerotrace
