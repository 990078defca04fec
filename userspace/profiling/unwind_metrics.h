#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/cumulative_counter.h"

namespace zerotrace::profiling {

class ProfileCollector;

// Publishes how user stacks are walked: the CFI tables' size and what they could not hold
// (zerotrace_unwind_*), and each profiler's walks by outcome.
class UnwindMetrics {
 public:
  explicit UnwindMetrics(prometheus::Registry& registry);
  // `collectors` by probe name (nullptr entries are skipped).
  void Update(const std::vector<std::pair<std::string, const ProfileCollector*>>& collectors);

 private:
  prometheus::Registry& registry_;
  prometheus::Gauge& rows_used_;
  prometheus::Gauge& rows_capacity_;
  prometheus::Gauge& files_;
  prometheus::Gauge& processes_;
  prometheus::Gauge& python_processes_;
  CumulativeCounter files_no_cfi_;
  CumulativeCounter files_unreadable_;
  CumulativeCounter files_too_many_rows_;
  CumulativeCounter files_table_full_;
  CumulativeCounter processes_mapping_bound_;
  CumulativeCounter processes_table_full_;
  CumulativeCounter python_unsupported_;
  struct ProbeWalks {
    std::string probe;
    std::vector<CumulativeCounter> outcomes;  // complete, truncated, stopped, undescribed
    std::vector<CumulativeCounter> python;    // recorded, no_thread, read_fault
  };
  std::vector<ProbeWalks> walks_;
};

}  // namespace zerotrace::profiling
