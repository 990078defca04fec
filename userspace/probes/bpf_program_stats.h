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
