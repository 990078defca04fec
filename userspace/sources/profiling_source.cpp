#include "sources/profiling_source.h"

namespace zerotrace {

ProfilingSource::ProfilingSource(const SourceContext& context) : context_(context) {}

void ProfilingSource::Start() {
  const Config& c = context_.config;
  profiling::ProfilingServiceOptions po;
  po.oncpu = c.probes.oncpu;
  po.offcpu = c.probes.offcpu;
  po.proc_root = c.proc_root;
  po.oncpu_options.frequency_hz = c.profiling.oncpu_frequency_hz;
  po.offcpu_options.min_block = c.profiling.offcpu_min_block;
  po.offcpu_options.max_block = c.profiling.offcpu_max_block;
  po.offcpu_options.sample_ratio = c.profiling.offcpu_sample_ratio;
  const bool cfi = c.profiling.unwind_method == "cfi";
  po.oncpu_options.cfi_unwind = po.offcpu_options.cfi_unwind = cfi;
  po.oncpu_options.unwind_rows = po.offcpu_options.unwind_rows = c.profiling.unwind_max_rows;
  if (auto st = ParseOffCpuStateFilter(c.profiling.offcpu_state); st) {
    po.offcpu_options.state = *st;
  }
  service_ = std::make_unique<profiling::ProfilingService>(context_.features, context_.filter,
                                                           context_.catalog, context_.registry, po);
}

std::vector<ProbeState> ProfilingSource::probes() const {
  std::vector<ProbeState> out;
  auto add = [&](const char* name, profiling::ProfileCollector* c, const std::string& error) {
    ProbeState p;
    p.name = name;
    p.probe = c ? c->probe() : nullptr;
    p.attached = c != nullptr;
    p.error = error;
    if (c) p.stacks_lost = [c] { return c->stacks_lost(); };
    out.push_back(std::move(p));
  };
  if (context_.config.probes.oncpu) add("oncpu", service_->oncpu(), service_->oncpu_error());
  if (context_.config.probes.offcpu) add("offcpu", service_->offcpu(), service_->offcpu_error());
  return out;
}

void ProfilingSource::Housekeeping(const Tick&) { service_->Tick(); }

}  // namespace zerotrace
