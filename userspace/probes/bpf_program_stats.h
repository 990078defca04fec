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
