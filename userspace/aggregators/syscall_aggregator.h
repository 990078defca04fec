#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "process/process_catalog.h"
#include "syscalls.h"

namespace zerotrace {

// Reads the syscall probe's in-kernel aggregates and turns them into Prometheus series by
// (service_name, syscall). Kernel values are cumulative per map entry; the aggregator keeps the
// last value it saw and adds only the growth, so exported counters stay monotonic even when
// entries of exited processes are deleted from the map.
class SyscallAggregator {
 public:
  SyscallAggregator(prometheus::Registry& registry, ProcessCatalog& catalog, int stats_map_fd);

  // Reads the map and updates the series. Entries of processes that exited are read one last
  // time and then deleted from the kernel map and from memory.
  void Collect();

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

  void Apply(const syscall_key& key, const syscall_stats& now, Seen& seen);

  ProcessCatalog& catalog_;
  int stats_fd_;
  prometheus::Family<prometheus::Counter>& calls_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Histogram>& duration_;
  mutable std::mutex mu_;
  std::unordered_map<syscall_key, Seen, KeyHash, KeyEq> seen_;
  uint64_t events_seen_ = 0;
};

}  // namespace zerotrace
