#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/metrics_catalog.h"

namespace zerotrace {

// The kernel counts latencies in log2 slots: slot s holds values in [2^s, 2^(s+1)) ns. Prometheus
// wants cumulative "le" buckets in seconds. Bucket bounds are powers of two in ns (2^10 ≈ 1 µs up
// to 2^34 ≈ 17 s, every 2nd power), so each slot falls entirely inside one bucket and the
// conversion is exact rather than interpolated.
class Log2Buckets {
 public:
  static constexpr int kFirstExponent = metrics::kLog2FirstExponent;
  static constexpr int kLastExponent = metrics::kLog2LastExponent;
  static constexpr int kStep = metrics::kLog2Step;

  // Upper bounds in seconds, ascending, without +Inf (the catalog's kLog2Seconds).
  static const std::vector<double>& BoundariesSeconds();
  // Per-bucket (non-cumulative) increments, one more than BoundariesSeconds() (the +Inf bucket).
  static std::vector<double> Increments(std::span<const uint64_t> slots);
};

}  // namespace zerotrace
