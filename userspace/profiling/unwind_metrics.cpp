#include "profiling/unwind_metrics.h"

#include <algorithm>

#include "core/metric_family.h"
#include "profiling/profile_collector.h"
#include "unwind.h"
#include "unwind/unwind_tables.h"

namespace zerotrace::profiling {
namespace {

prometheus::Counter& Skipped(prometheus::Registry& r, const char* what, const char* reason) {
  return CounterFamily(r, "zerotrace_unwind_skipped_total")
      .Add({{"what", what}, {"reason", reason}});
}

}  // namespace

UnwindMetrics::UnwindMetrics(prometheus::Registry& registry)
    : registry_(registry),
      rows_used_(GaugeFamily(registry, "zerotrace_unwind_table_rows").Add({{"state", "used"}})),
      rows_capacity_(
          GaugeFamily(registry, "zerotrace_unwind_table_rows").Add({{"state", "capacity"}})),
      files_(GaugeFamily(registry, "zerotrace_unwind_table_entries").Add({{"kind", "files"}})),
      processes_(
          GaugeFamily(registry, "zerotrace_unwind_table_entries").Add({{"kind", "processes"}})),
      python_processes_(GaugeFamily(registry, "zerotrace_unwind_table_entries")
                            .Add({{"kind", "python_processes"}})),
      files_no_cfi_(Skipped(registry, "file", "no_cfi")),
      files_unreadable_(Skipped(registry, "file", "unreadable")),
      files_too_many_rows_(Skipped(registry, "file", "too_many_rows")),
      files_table_full_(Skipped(registry, "file", "table_full")),
      processes_mapping_bound_(Skipped(registry, "process", "too_many_mappings")),
      processes_table_full_(Skipped(registry, "process", "table_full")),
      python_unsupported_(Skipped(registry, "file", "python_version")) {}

void UnwindMetrics::Update(
    const std::vector<std::pair<std::string, const ProfileCollector*>>& collectors) {
  if (auto tables = unwind::UnwindTables::Current()) {
    const unwind::UnwindTableStats s = tables->stats();
    rows_used_.Set(static_cast<double>(s.rows_used));
    rows_capacity_.Set(static_cast<double>(s.rows_capacity));
    files_.Set(static_cast<double>(s.files));
    processes_.Set(static_cast<double>(s.processes));
    python_processes_.Set(static_cast<double>(s.python_processes));
    files_no_cfi_.Update(s.files_without_cfi);
    files_unreadable_.Update(s.files_unreadable);
    files_too_many_rows_.Update(s.files_over_row_bound);
    files_table_full_.Update(s.files_table_full);
    processes_mapping_bound_.Update(s.processes_over_mapping_bound);
    processes_table_full_.Update(s.processes_not_described);
    python_unsupported_.Update(s.python_unsupported);
  }
  for (const auto& [probe, collector] : collectors) {
    if (!collector) continue;
    const std::vector<uint64_t> stats = collector->unwind_walk_stats();
    if (stats.size() < ZT_UNWIND_STAT_MAX) continue;
    auto it = std::find_if(walks_.begin(), walks_.end(),
                           [&](const ProbeWalks& w) { return w.probe == probe; });
    if (it == walks_.end()) {
      auto& family = CounterFamily(registry_, "zerotrace_unwind_walks_total");
      auto& python = CounterFamily(registry_, "zerotrace_unwind_python_frames_total");
      ProbeWalks w{probe, {}, {}};
      for (const char* outcome : {"complete", "truncated", "stopped", "undescribed"}) {
        w.outcomes.emplace_back(family.Add({{"probe", probe}, {"outcome", outcome}}));
      }
      for (const char* outcome : {"recorded", "no_thread", "read_fault"}) {
        w.python.emplace_back(python.Add({{"probe", probe}, {"outcome", outcome}}));
      }
      walks_.push_back(std::move(w));
      it = walks_.end() - 1;
    }
    it->outcomes[0].Update(stats[ZT_UNWIND_STAT_COMPLETE]);
    it->outcomes[1].Update(stats[ZT_UNWIND_STAT_TRUNCATED]);
    it->outcomes[2].Update(stats[ZT_UNWIND_STAT_STOPPED] + stats[ZT_UNWIND_STAT_STACK_COLLISION]);
    it->outcomes[3].Update(stats[ZT_UNWIND_STAT_NO_PROC]);
    it->python[0].Update(stats[ZT_UNWIND_STAT_PY_FRAMES]);
    it->python[1].Update(stats[ZT_UNWIND_STAT_PY_NO_THREAD]);
    it->python[2].Update(stats[ZT_UNWIND_STAT_PY_READ_FAULT]);
  }
}

}  // namespace zerotrace::profiling
