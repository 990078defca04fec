#include "tracing/clock_converter.h"

#include <time.h>

#include <limits>
#include <utility>

namespace zerotrace::tracing {
namespace {

int64_t ReadClock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

ClockSource ClockSource::System() {
  return ClockSource{[] { return ReadClock(CLOCK_REALTIME); },
                     [] { return ReadClock(CLOCK_MONOTONIC); }};
}

ClockConverter::ClockConverter(ClockSource source, int samples)
    : source_(std::move(source)), samples_(samples < 1 ? 1 : samples) {
  Refresh();
}

int64_t ClockConverter::Refresh() {
  int64_t best_gap = std::numeric_limits<int64_t>::max();
  int64_t best_offset = 0;
  for (int i = 0; i < samples_; ++i) {
    int64_t m1 = source_.monotonic_ns();
    int64_t real = source_.realtime_ns();
    int64_t m2 = source_.monotonic_ns();
    int64_t gap = m2 - m1;
    if (gap < 0) continue;
    if (gap < best_gap) {
      best_gap = gap;
      best_offset = real - (m1 + gap / 2);
    }
  }
  if (best_gap == std::numeric_limits<int64_t>::max()) return -1;
  offset_ns_.store(best_offset, std::memory_order_relaxed);
  uncertainty_ns_.store(best_gap, std::memory_order_relaxed);
  return best_gap;
}

uint64_t ClockConverter::MonotonicToUnixNs(uint64_t monotonic_ns) const {
  int64_t unix_ns = static_cast<int64_t>(monotonic_ns) + offset_ns();
  return unix_ns < 0 ? 0 : static_cast<uint64_t>(unix_ns);
}

}  // namespace zerotrace::tracing
