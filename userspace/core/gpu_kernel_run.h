#pragma once

#include <cstdint>
#include <string>

namespace zerotrace {

// One kernel execution on the GPU and the CPU launch it came from (CUPTI record + launch probe),
// handed from the GPU aggregator to consumers such as span building. Times are CLOCK_MONOTONIC ns.
struct GpuKernelRun {
  uint32_t tgid = 0;
  uint32_t launch_tid = 0;
  uint64_t launch_ns = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  std::string kernel;  // the metric label: demangled, shortened
  std::string service;
  uint32_t device = 0;
  uint32_t stream = 0;
  uint32_t correlation_id = 0;
};

}  // namespace zerotrace
