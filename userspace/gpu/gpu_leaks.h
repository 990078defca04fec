#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gpu/gpu_profile.h"

namespace zerotrace::gpu {

// One allocation site with allocations still outstanding.
struct LeakSite {
  uint64_t bytes = 0;
  uint64_t allocations = 0;
  int32_t stack_id = -1;  // in `cuda_stacks`; negative when the stack was lost
  FramesPtr stack;        // root first; empty when lost
};

struct ProcessLeaks {
  uint32_t pid = 0;
  std::string service;
  uint64_t outstanding_bytes = 0;
  uint64_t outstanding_allocations = 0;
  std::vector<LeakSite> sites;  // largest first
};

// Outstanding device memory per process and the leak report. Two ledgers, so nothing is counted
// twice: the driver uprobes' (each allocation with its stack) once a process made a driver
// allocation, else CUPTI MEMORY2 records' (sizes only; the runtime does not always call the
// exported driver symbols). Each holds at most `max_allocations_per_process` per process.
// Not thread-safe: GpuAggregator calls it under its lock.
class GpuLeaks {
 public:
  explicit GpuLeaks(size_t max_allocations_per_process)
      : max_per_process_(max_allocations_per_process) {}

  struct Site {
    int32_t stack_id = -1;
    FramesPtr stack;
    uint64_t caller = 0;  // with stack_id, names the site
  };
  // `site` is asked for only when the allocation is tracked (resolving a stack costs).
  void OnDriverAlloc(uint32_t tgid, uint64_t address, uint64_t bytes,
                     const std::function<Site()>& site);
  // False for an allocation not seen (made before we attached, or past the bound).
  bool OnDriverFree(uint32_t tgid, uint64_t address);
  void OnCuptiAlloc(uint32_t tgid, uint64_t address, uint64_t bytes);
  void OnCuptiRelease(uint32_t tgid, uint64_t address);

  // Bytes outstanding, from the ledger that counts for the process.
  uint64_t Outstanding(uint32_t tgid) const;
  // The driver's ledger counts for this process (it made a driver allocation).
  bool DriverCounts(uint32_t tgid) const;

  // Per process, largest first, `top_sites` sites each (CUPTI-only processes: one site without a
  // stack). `service` names a process.
  std::vector<ProcessLeaks> Leaks(size_t top_sites,
                                  const std::function<std::string(uint32_t)>& service) const;
  // The same as text: one block per process, each site's stack leaf first.
  static std::string Report(const std::vector<ProcessLeaks>& leaks);

  void Forget(uint32_t tgid) { procs_.erase(tgid); }

 private:
  struct Allocation {
    uint64_t bytes = 0;
    Site site;
  };
  struct Ledgers {
    bool driver_seen = false;  // any driver allocation, even past the bound
    std::unordered_map<uint64_t, Allocation> driver;
    uint64_t driver_bytes = 0;
    std::unordered_map<uint64_t, uint64_t> cupti;  // address -> bytes
    uint64_t cupti_bytes = 0;
  };

  size_t max_per_process_;
  std::unordered_map<uint32_t, Ledgers> procs_;
};

}  // namespace zerotrace::gpu
