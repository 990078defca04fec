#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace zerotrace {

struct ProgramStats {
  std::string name;
  uint32_t id = 0;
  uint64_t run_time_ns = 0;
  uint64_t run_count = 0;
};

// Per-program run time and run count as the kernel accounts them while BPF_ENABLE_STATS is on.
std::vector<ProgramStats> ReadProgramStats(bpf_object* obj);

}  // namespace zerotrace

namespace zerotrace {

// Sum over CPUs and over indexes [0, n) of a BPF_MAP_TYPE_PERCPU_ARRAY of __u64 counters (the
// probes' `drops` maps). 0 when the map cannot be read.
uint64_t SumPerCpuCounters(int map_fd, uint32_t n);

}  // namespace zerotrace

namespace zerotrace {

// Destroys the links together: each uprobe or perf-event tracepoint link waits for an RCU grace
// period on release (~0.1 s), so releasing dozens one by one would take seconds at shutdown.
// Null entries are skipped; every entry is null afterwards.
void DestroyLinksConcurrently(std::vector<bpf_link*>& links);

}  // namespace zerotrace
