#pragma once

#include <prometheus/gauge.h>

#include <memory>

#include "aggregators/syscall_aggregator.h"
#include "core/cumulative_counter.h"
#include "probes/syscall_probe.h"
#include "sources/source.h"

namespace zerotrace {

// Syscall counts, errors and latency per service: the syscalls probe's per-CPU map, read into
// zerotrace_syscall_* on every refresh.
class SyscallsSource : public Source {
 public:
  explicit SyscallsSource(const SourceContext& context);
  const char* name() const override { return "syscalls"; }
  void Start() override;
  std::vector<ProbeState> probes() const override;
  void Refresh() override;

 private:
  SourceContext context_;
  std::unique_ptr<SyscallProbe> probe_;
  std::string error_;
  std::unique_ptr<SyscallAggregator> aggregator_;  // once attached
  std::unique_ptr<CumulativeCounter> events_;
  prometheus::Gauge* entries_ = nullptr;
};

}  // namespace zerotrace
