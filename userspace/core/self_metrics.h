#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <memory>

namespace zerotrace {

// The daemon's own cost, in the metric names Prometheus client libraries use for a process, so
// the standard "process" panels and alerts work on zerotrace unchanged.
class SelfMetrics {
 public:
  explicit SelfMetrics(prometheus::Registry& registry);
  void Update();  // reads /proc/self; call before each scrape

 private:
  prometheus::Counter& cpu_seconds_;
  double cpu_seconds_seen_ = 0;
  prometheus::Gauge& rss_bytes_;
  prometheus::Gauge& start_time_;
};

}  // namespace zerotrace
