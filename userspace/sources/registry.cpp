#include "sources/registry.h"

#include "sources/gpu_source.h"
#include "sources/profiling_source.h"
#include "sources/sockets_source.h"
#include "sources/syscalls_source.h"

namespace zerotrace {
namespace {

// One entry per feature. Order matters: spans (sockets) and the profilers' symbolizer (profiling)
// exist before the GPU source that uses them.
const std::vector<SourceRegistration> kSources = {
    {[](const ProbeToggles& p) { return p.syscalls; },
     [](const SourceContext& c, const SourceSet&) -> std::unique_ptr<Source> {
       return std::make_unique<SyscallsSource>(c);
     }},
    {[](const ProbeToggles& p) { return p.sockets; },
     [](const SourceContext& c, const SourceSet&) -> std::unique_ptr<Source> {
       return std::make_unique<SocketsSource>(c);
     }},
    {[](const ProbeToggles& p) { return p.oncpu || p.offcpu; },
     [](const SourceContext& c, const SourceSet&) -> std::unique_ptr<Source> {
       return std::make_unique<ProfilingSource>(c);
     }},
    {[](const ProbeToggles& p) { return p.cuda || p.cupti; },
     [](const SourceContext& c, const SourceSet& earlier) -> std::unique_ptr<Source> {
       auto* profiling = earlier.Find<ProfilingSource>();
       auto* sockets = earlier.Find<SocketsSource>();
       return std::make_unique<GpuSource>(
           c, profiling ? profiling->service()->user_symbolizer() : nullptr,
           sockets ? sockets->spans() : nullptr);
     }},
};

}  // namespace

const std::vector<SourceRegistration>& SourceRegistrations() { return kSources; }

SourceSet SourceSet::Start(const SourceContext& context,
                           const std::vector<SourceRegistration>& registrations) {
  SourceSet set;
  for (const auto& r : registrations) {
    if (!r.enabled(context.config.probes)) continue;
    set.sources_.push_back(r.make(context, set));
    set.sources_.back()->Start();
  }
  return set;
}

void SourceSet::Stop() {
  for (auto it = sources_.rbegin(); it != sources_.rend(); ++it) (*it)->Stop();
}

void SourceSet::Clear() {
  Stop();
  while (!sources_.empty()) sources_.pop_back();
}

}  // namespace zerotrace
