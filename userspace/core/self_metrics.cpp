#include "core/self_metrics.h"

#include "core/metric_family.h"
#include "core/untrusted_file.h"

#include <prometheus/gauge.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

namespace zerotrace {

SelfMetrics::SelfMetrics(prometheus::Registry& registry)
    : cpu_seconds_(CounterFamily(registry, "process_cpu_seconds_total").Add({})),
      rss_bytes_(GaugeFamily(registry, "process_resident_memory_bytes").Add({})),
      start_time_(GaugeFamily(registry, "process_start_time_seconds").Add({})) {
  auto& refused = CounterFamily(registry, "zerotrace_untrusted_files_refused_total");
  for (size_t r = 0; r < static_cast<size_t>(FileRefusal::kCount); ++r) {
    files_refused_.push_back(
        &refused.Add({{"reason", std::string(FileRefusalLabel(static_cast<FileRefusal>(r)))}}));
    files_refused_seen_.push_back(0);
  }
  start_time_.Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  Update();
}

void SelfMetrics::Update() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  // prometheus-cpp counters only go up by increments, so feed it the growth since last time.
  const double total = secs(ru.ru_utime) + secs(ru.ru_stime);
  if (total > cpu_seconds_seen_) {
    cpu_seconds_.Increment(total - cpu_seconds_seen_);
    cpu_seconds_seen_ = total;
  }
  for (size_t r = 0; r < files_refused_.size(); ++r) {
    const uint64_t now = UntrustedFilesRefused(static_cast<FileRefusal>(r));
    if (now > files_refused_seen_[r]) {
      files_refused_[r]->Increment(static_cast<double>(now - files_refused_seen_[r]));
      files_refused_seen_[r] = now;
    }
  }
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  if (statm >> pages_total >> pages_resident) {
    rss_bytes_.Set(static_cast<double>(pages_resident) *
                   static_cast<double>(sysconf(_SC_PAGESIZE)));
  }
}

}  // namespace zerotrace
