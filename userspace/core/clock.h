#pragma once

// The clocks the tree reads, in one place.

#include <time.h>

#include <chrono>
#include <cstdint>

namespace zerotrace {

// CLOCK_MONOTONIC in nanoseconds: the clock of the kernel side's bpf_ktime_get_ns(), so event
// timestamps and "now" compare directly.
inline uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// steady_clock time in nanoseconds, for callers on that clock (libstdc++'s steady_clock is
// CLOCK_MONOTONIC, the same clock as MonotonicNs()).
inline uint64_t SteadyNs(
    std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now()) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace zerotrace
