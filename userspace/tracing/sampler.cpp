#include "tracing/sampler.h"

#include <cmath>

namespace zerotrace::tracing {

Sampler::Sampler(SamplerOptions options) : options_(options) {
  double r = options_.ratio;
  if (!(r > 0.0)) r = 0.0;  // also maps NaN to 0
  if (r > 1.0) r = 1.0;
  options_.ratio = r;
  always_ = r >= 1.0;
  threshold_ =
      always_ ? UINT64_MAX : static_cast<uint64_t>(std::ldexp(static_cast<long double>(r), 63));
}

bool Sampler::SampledByRatio(const TraceId& trace_id) const {
  if (always_) return true;
  uint64_t v = 0;
  for (size_t i = 8; i < 16; ++i) v = (v << 8) | trace_id[i];
  v &= 0x7fffffffffffffffULL;
  return v < threshold_;
}

SamplingDecision Sampler::Decide(const Span& span) const {
  if (SampledByRatio(span.trace_id)) return {true, SamplingReason::kRatio};
  if (options_.keep_errors && span.status.code == StatusCode::kError) {
    return {true, SamplingReason::kError};
  }
  if (options_.keep_slower_than_ns > 0 && span.DurationNs() >= options_.keep_slower_than_ns) {
    return {true, SamplingReason::kSlow};
  }
  return {false, SamplingReason::kDropped};
}

}  // namespace zerotrace::tracing
