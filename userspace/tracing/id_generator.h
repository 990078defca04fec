#pragma once

#include <cstdint>
#include <mutex>
#include <random>

#include "tracing/span.h"

namespace zerotrace::tracing {

// Random W3C-compatible ids (never all-zero). Thread-safe; each instance owns its engine,
// seeded from std::random_device (no global state). Pass a seed only in tests.
class IdGenerator {
 public:
  IdGenerator();
  explicit IdGenerator(uint64_t seed);
  IdGenerator(const IdGenerator&) = delete;
  IdGenerator& operator=(const IdGenerator&) = delete;

  TraceId NewTraceId();
  SpanId NewSpanId();

 private:
  uint64_t NextNonZero();

  std::mutex mu_;
  std::mt19937_64 engine_;
};

}  // namespace zerotrace::tracing
