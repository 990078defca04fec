#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace zerotrace {

// The daemon's own cost, in the metric names Prometheus client libraries use for a process, so
// the standard "process" panels and alerts work on zerotrace unchanged; and the files it refused
// to read (core/untrusted_file.h), which every reader of workload files counts process-wide.
class SelfMetrics {
 public:
  explicit SelfMetrics(prometheus::Registry& registry);
  void Update();  // reads /proc/self; call before each scrape

 private:
  prometheus::Counter& cpu_seconds_;
  double cpu_seconds_seen_ = 0;
  prometheus::Gauge& rss_bytes_;
  prometheus::Gauge& start_time_;
  // zerotrace_untrusted_files_refused_total by reason (FileRefusal order), and what was fed.
  std::vector<prometheus::Counter*> files_refused_;
  std::vector<uint64_t> files_refused_seen_;
};

}  // namespace zerotrace
