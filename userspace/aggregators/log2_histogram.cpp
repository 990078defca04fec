#include "aggregators/log2_histogram.h"

#include <cmath>

namespace zerotrace {

const std::vector<double>& Log2Buckets::BoundariesSeconds() {
  return metrics::BucketBoundaries(metrics::Buckets::kLog2Seconds);
}

std::vector<double> Log2Buckets::Increments(std::span<const uint64_t> slots) {
  const size_t nbounds = BoundariesSeconds().size();
  std::vector<double> inc(nbounds + 1, 0.0);
  for (size_t s = 0; s < slots.size(); ++s) {
    if (slots[s] == 0) continue;
    // Values in slot s are < 2^(s+1) ns: the first bound with exponent >= s+1 holds them.
    const int need = static_cast<int>(s) + 1;
    size_t bucket = nbounds;  // +Inf
    if (need <= kFirstExponent) {
      bucket = 0;
    } else if (need <= kLastExponent) {
      bucket = static_cast<size_t>((need - kFirstExponent + kStep - 1) / kStep);
    }
    inc[bucket] += static_cast<double>(slots[s]);
  }
  return inc;
}

}  // namespace zerotrace
