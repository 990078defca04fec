#include "aggregators/syscall_aggregator.h"

#include <bpf/bpf.h>

#include <cstring>
#include <optional>
#include <vector>

#include "aggregators/log2_histogram.h"
#include "core/metric_family.h"
#include "core/syscall_table.h"

namespace zerotrace {
namespace {

constexpr uint64_t kSweepEveryNs = 60'000'000'000ull;

}  // namespace

SyscallAggregator::SyscallAggregator(prometheus::Registry& registry, ProcessCatalog& catalog,
                                     int stats_map_fd, std::chrono::seconds series_ttl)
    : catalog_(catalog),
      stats_fd_(stats_map_fd),
      calls_(CounterFamily(registry, "zerotrace_syscalls_total")),
      errors_(CounterFamily(registry, "zerotrace_syscall_errors_total")),
      duration_(HistogramFamily(registry, "zerotrace_syscall_duration_seconds")),
      calls_series_(calls_, series_ttl),
      errors_series_(errors_, series_ttl),
      duration_series_(duration_, series_ttl) {}

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
  auto labels = [&] {
    prometheus::Labels l = seen.k8s;
    l["service_name"] = seen.service;
    l["syscall"] = name;
    return l;
  };
  const uint64_t at_ns = SteadyNs(at);
  calls_series_.Get(id, at_ns, labels).Increment(static_cast<double>(dcount));
  // Present at 0 so rate() works before the first error.
  auto& errs = errors_series_.Get(id, at_ns, labels);
  if (derr) errs.Increment(static_cast<double>(derr));
  duration_series_.Get(id, at_ns, labels, Log2Buckets::BoundariesSeconds())
      .ObserveMultiple(Log2Buckets::Increments(dhist), static_cast<double>(dns) / 1e9);
  events_seen_ += dcount;
  seen.last = now;
}

size_t SyscallAggregator::series() const {
  std::lock_guard lock(mu_);
  return calls_series_.size();
}

void SyscallAggregator::Collect(std::chrono::steady_clock::time_point at) {
  std::lock_guard lock(mu_);
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
  // Each process is named once per collection, and named again at every collection: an exec
  // (or a fork's child that has not exec'd yet when first seen) changes the name, and the
  // counts read after that belong to the new one. LookupFresh: one /proc/PID/stat read per live
  // process per collection, so an exec is never hidden behind the catalog's trust window.
  struct Owner {
    std::optional<ProcessInfo> info;
    bool alive = false;
  };
  std::unordered_map<uint32_t, Owner> owners;
  for (const auto& k : keys) {
    syscall_stats now{};
    if (bpf_map_lookup_elem(stats_fd_, &k, &now) != 0) continue;
    auto o = owners.find(k.tgid);
    if (o == owners.end()) {
      Owner owner;
      owner.info = catalog_.LookupFresh(k.tgid);
      owner.alive = owner.info.has_value() || catalog_.IsAlive(k.tgid);
      o = owners.emplace(k.tgid, std::move(owner)).first;
    }
    Seen& seen = seen_[k];
    if (o->second.info) {
      seen.service = o->second.info->service_name;
      seen.k8s = K8sLabels(o->second.info->k8s);
    } else if (seen.service.empty()) {
      seen.service = std::string(now.comm, strnlen(now.comm, sizeof(now.comm)));
    }
    Apply(k, now, seen, at);
    if (!o->second.alive) {
      // Final read done: forget the process so memory follows live processes, not PID churn.
      bpf_map_delete_elem(stats_fd_, &k);
      seen_.erase(k);
    }
  }
  // A sweep costs a pass over every series: often enough at a tenth of the TTL.
  const uint64_t now_ns = SteadyNs(at);
  if (now_ns - last_sweep_ns_ >= kSweepEveryNs) {
    last_sweep_ns_ = now_ns;
    calls_series_.RemoveIdle(now_ns);
    errors_series_.RemoveIdle(now_ns);
    duration_series_.RemoveIdle(now_ns);
  }
}

size_t SyscallAggregator::tracked_entries() const {
  std::lock_guard lock(mu_);
  return seen_.size();
}

}  // namespace zerotrace
