#include "aggregators/syscall_aggregator.h"

#include <bpf/bpf.h>

#include <cstring>
#include <vector>

#include "aggregators/log2_histogram.h"
#include "core/metric_family.h"
#include "core/syscall_table.h"

namespace zerotrace {

SyscallAggregator::SyscallAggregator(prometheus::Registry& registry, ProcessCatalog& catalog,
                                     int stats_map_fd, std::chrono::seconds series_ttl)
    : catalog_(catalog),
      stats_fd_(stats_map_fd),
      calls_(CounterFamily(registry, "zerotrace_syscalls_total",
                           "System calls completed, by service and syscall")),
      errors_(CounterFamily(registry, "zerotrace_syscall_errors_total",
                            "System calls that returned an error (negative return value)")),
      duration_(HistogramFamily(registry, "zerotrace_syscall_duration_seconds",
                                "Time from syscall entry to exit")),
      series_ttl_(series_ttl) {}

void SyscallAggregator::Apply(const syscall_key& key, const syscall_stats& now, Seen& seen,
                              std::chrono::steady_clock::time_point at) {
  const syscall_stats& last = seen.last;
  // A value smaller than what we saw means the entry was deleted and recreated: all of it is new.
  const bool reset = now.count < last.count;
  const uint64_t dcount = reset ? now.count : now.count - last.count;
  if (dcount == 0) return;
  const uint64_t derr = reset ? now.errors : now.errors - last.errors;
  const uint64_t dns = reset ? now.total_ns : now.total_ns - last.total_ns;
  std::array<uint64_t, ZT_SYSCALL_HIST_SLOTS> dhist{};
  for (size_t i = 0; i < dhist.size(); ++i) {
    dhist[i] = reset || now.hist[i] < last.hist[i] ? now.hist[i] : now.hist[i] - last.hist[i];
  }
  const std::string name = SyscallName(key.nr);
  std::string id = seen.service + '\x1f' + name;
  for (const auto& [k, v] : seen.k8s) id.append("\x1f").append(v);
  Series& series = series_[id];
  if (series.calls == nullptr) {
    prometheus::Labels labels = seen.k8s;
    labels["service_name"] = seen.service;
    labels["syscall"] = name;
    series.calls = &calls_.Add(labels);
    series.errors = &errors_.Add(labels);  // present at 0 so rate() works before the first error
    series.duration = &duration_.Add(labels, Log2Buckets::BoundariesSeconds());
  }
  series.updated = at;
  series.calls->Increment(static_cast<double>(dcount));
  if (derr) series.errors->Increment(static_cast<double>(derr));
  series.duration->ObserveMultiple(Log2Buckets::Increments(dhist), static_cast<double>(dns) / 1e9);
  events_seen_ += dcount;
  seen.last = now;
}

void SyscallAggregator::RemoveIdleSeries(std::chrono::steady_clock::time_point now) {
  if (series_ttl_.count() == 0 || now - last_sweep_ < series_ttl_ / 10) return;
  last_sweep_ = now;
  for (auto it = series_.begin(); it != series_.end();) {
    if (now - it->second.updated < series_ttl_) {
      ++it;
      continue;
    }
    calls_.Remove(it->second.calls);
    errors_.Remove(it->second.errors);
    duration_.Remove(it->second.duration);
    it = series_.erase(it);
  }
}

size_t SyscallAggregator::series() const {
  std::lock_guard lock(mu_);
  return series_.size();
}

void SyscallAggregator::Collect(std::chrono::steady_clock::time_point at) {
  std::lock_guard lock(mu_);
  std::unordered_set<uint32_t> present_tgids;
  std::vector<syscall_key> keys;
  syscall_key key{}, next{};
  syscall_key* prev = nullptr;
  // Bounded by the map size: get_next_key restarts from the beginning when `prev` vanished, so
  // a hard cap keeps a concurrently churning map from looping forever.
  for (size_t i = 0;
       i < 2 * ZT_SYSCALL_MAX_ENTRIES && bpf_map_get_next_key(stats_fd_, prev, &next) == 0; ++i) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  std::unordered_map<uint32_t, bool> alive;
  for (const auto& k : keys) {
    syscall_stats now{};
    if (bpf_map_lookup_elem(stats_fd_, &k, &now) != 0) continue;
    auto [it, inserted] = seen_.try_emplace(k);
    if (inserted) {
      auto info = catalog_.Lookup(k.tgid);
      it->second.service =
          info ? info->service_name : std::string(now.comm, strnlen(now.comm, sizeof(now.comm)));
      if (info) it->second.k8s = K8sLabels(info->k8s);
    }
    Apply(k, now, it->second, at);
    auto a = alive.find(k.tgid);
    if (a == alive.end()) a = alive.emplace(k.tgid, catalog_.IsAlive(k.tgid)).first;
    if (!a->second) {
      // Final read done: forget the process so memory follows live processes, not PID churn.
      bpf_map_delete_elem(stats_fd_, &k);
      seen_.erase(it);
    }
  }
  RemoveIdleSeries(at);
}

size_t SyscallAggregator::tracked_entries() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

}  // namespace zerotrace
