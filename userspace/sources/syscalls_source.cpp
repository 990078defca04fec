#include "sources/syscalls_source.h"

#include "core/metric_family.h"

namespace zerotrace {

SyscallsSource::SyscallsSource(const SourceContext& context)
    : context_(context), probe_(std::make_unique<SyscallProbe>(context.features, context.filter)) {}

void SyscallsSource::Start() {
  if (auto s = probe_->Attach(); !s) {
    error_ = s.message();
    return;
  }
  aggregator_ = std::make_unique<SyscallAggregator>(context_.registry, context_.catalog,
                                                    probe_->stats_map_fd());
  events_ = std::make_unique<CumulativeCounter>(
      CounterFamily(context_.registry, "zerotrace_events_total").Add({{"probe", "syscalls"}}));
  entries_ = &GaugeFamily(context_.registry, "zerotrace_syscall_map_entries").Add({});
}

std::vector<ProbeState> SyscallsSource::probes() const {
  ProbeState p;
  p.name = "syscalls";
  p.probe = probe_.get();
  p.attached = aggregator_ != nullptr;
  p.error = error_;
  return {p};
}

void SyscallsSource::Refresh() {
  if (!aggregator_) return;
  aggregator_->Collect();
  events_->Update(aggregator_->events_seen());
  entries_->Set(static_cast<double>(aggregator_->tracked_entries()));
}

}  // namespace zerotrace
