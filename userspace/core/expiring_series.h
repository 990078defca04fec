#pragma once

#include <prometheus/family.h>
#include <prometheus/labels.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/clock.h"

namespace zerotrace {

// The series of one metric family that leave the registry after `ttl` without an update:
// label values that come and go (a rolled-out pod's k8s_pod_name, a finished cron job's service)
// would otherwise keep their series for the daemon's lifetime. A removed series comes back at zero
// with its next update, which Prometheus reads as a counter reset. A zero `ttl` keeps everything.
// Series are looked up by a flat key the caller builds (cheaper than hashing a label map); the
// labels are only built for a new series. Times are the caller's clock, in nanoseconds.
template <typename Metric>
class ExpiringSeries {
 public:
  ExpiringSeries(prometheus::Family<Metric>& family, std::chrono::nanoseconds ttl)
      : family_(family), ttl_ns_(static_cast<uint64_t>(ttl.count())) {}

  // The series for `key`, created from `make_labels()` (and `args` for the metric, e.g. a
  // histogram's buckets) when new; marks it used at `now_ns`.
  template <typename MakeLabels, typename... Args>
  Metric& Get(const std::string& key, uint64_t now_ns, MakeLabels&& make_labels, Args&&... args) {
    Entry& e = entries_[key];
    if (e.metric == nullptr) e.metric = &family_.Add(make_labels(), std::forward<Args>(args)...);
    if (now_ns > e.last_ns) e.last_ns = now_ns;
    return *e.metric;
  }

  // Removes the series not used within `ttl_ns` before `now_ns`.
  void RemoveIdle(uint64_t now_ns) {
    if (ttl_ns_ == 0) return;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now_ns < it->second.last_ns + ttl_ns_) {
        ++it;
        continue;
      }
      family_.Remove(it->second.metric);
      it = entries_.erase(it);
    }
  }

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Metric* metric = nullptr;
    uint64_t last_ns = 0;
  };
  prometheus::Family<Metric>& family_;
  uint64_t ttl_ns_;
  std::unordered_map<std::string, Entry> entries_;
};

// A flat key for a label set (names and values joined by unit separators).
inline std::string SeriesKey(const prometheus::Labels& labels) {
  std::string key;
  for (const auto& [name, value] : labels) {
    key.append(name).push_back('\x1e');
    key.append(value).push_back('\x1f');
  }
  return key;
}

}  // namespace zerotrace
