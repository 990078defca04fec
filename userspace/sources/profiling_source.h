#pragma once

#include <memory>

#include "profiling/profiling_service.h"
#include "sources/source.h"

namespace zerotrace {

// Continuous on-CPU and off-CPU profiling: per-service sample counters, on-demand flamegraphs
// (/flamegraph). The kernel maps are drained and symbolized on the daemon's tick, never inside
// a scrape.
class ProfilingSource : public Source {
 public:
  explicit ProfilingSource(const SourceContext& context);
  const char* name() const override { return "profiling"; }
  void Start() override;
  std::vector<ProbeState> probes() const override;
  void Housekeeping(const Tick& tick) override;

  // Null before Start().
  profiling::ProfilingService* service() const { return service_.get(); }

 private:
  SourceContext context_;
  std::unique_ptr<profiling::ProfilingService> service_;
};

}  // namespace zerotrace
