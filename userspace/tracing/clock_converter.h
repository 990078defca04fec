#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace zerotrace::tracing {

// Reads of the two clocks, injectable for tests. System() uses clock_gettime.
struct ClockSource {
  std::function<int64_t()> realtime_ns;
  std::function<int64_t()> monotonic_ns;

  static ClockSource System();
};

// Converts kernel monotonic timestamps (bpf_ktime_get_ns == CLOCK_MONOTONIC) to Unix ns.
// The offset REALTIME − MONOTONIC is estimated from `samples` bracketed reads
// (mono, real, mono), keeping the read with the smallest bracket (min-gap pair). Call
// Refresh() now and then (e.g. every 60 s) to follow NTP adjustments; conversion is lock-free.
class ClockConverter {
 public:
  explicit ClockConverter(ClockSource source = ClockSource::System(), int samples = 8);

  // Re-estimates the offset. Returns the chosen bracket width (uncertainty, ns), or -1 when
  // no usable read was made (offset unchanged).
  int64_t Refresh();

  uint64_t MonotonicToUnixNs(uint64_t monotonic_ns) const;
  int64_t offset_ns() const { return offset_ns_.load(std::memory_order_relaxed); }
  int64_t uncertainty_ns() const { return uncertainty_ns_.load(std::memory_order_relaxed); }

 private:
  ClockSource source_;
  int samples_;
  std::atomic<int64_t> offset_ns_{0};
  std::atomic<int64_t> uncertainty_ns_{0};
};

}  // namespace zerotrace::tracing
