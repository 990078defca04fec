#pragma once

#include <prometheus/counter.h>

#include <cstdint>

namespace zerotrace {

// Mirrors a cumulative value kept elsewhere (a kernel counter, a program's run time) into a
// Prometheus counter, which only accepts increments.
class CumulativeCounter {
 public:
  explicit CumulativeCounter(prometheus::Counter& counter, double scale = 1.0)
      : counter_(counter), scale_(scale) {}

  void Update(uint64_t total) {
    if (total > last_) counter_.Increment(static_cast<double>(total - last_) * scale_);
    last_ = total;  // a smaller total means the source restarted: count from it next time
  }

 private:
  prometheus::Counter& counter_;
  double scale_;
  uint64_t last_ = 0;
};

}  // namespace zerotrace
