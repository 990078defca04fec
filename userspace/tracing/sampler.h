#pragma once

#include <cstdint>

#include "tracing/span.h"

namespace zerotrace::tracing {

struct SamplerOptions {
  double ratio = 1.0;                // head ratio in [0, 1], deterministic by trace id
  bool keep_errors = true;           // tail rule: keep spans with status ERROR
  uint64_t keep_slower_than_ns = 0;  // tail rule: keep spans lasting >= this; 0 disables
};

enum class SamplingReason : uint8_t { kDropped, kRatio, kError, kSlow };

struct SamplingDecision {
  bool keep = false;
  SamplingReason reason = SamplingReason::kDropped;
};

// Head ratio (like OTel TraceIdRatioBased: every span of a trace gets the same ratio decision,
// from the trace id's low 8 bytes) plus "always keep errors and slow requests", decided once
// the request has completed.
class Sampler {
 public:
  explicit Sampler(SamplerOptions options = {});

  // The ratio decision alone; usable at request start.
  bool SampledByRatio(const TraceId& trace_id) const;
  // Final decision for a completed span.
  SamplingDecision Decide(const Span& span) const;
  const SamplerOptions& options() const { return options_; }

 private:
  SamplerOptions options_;
  uint64_t threshold_ = 0;  // keep when the low 63 bits of bytes 8..15 are < threshold_
  bool always_ = false;
};

}  // namespace zerotrace::tracing
