// Per-process cap on published CUPTI records per second (ZEROTRACE_CUPTI_MAX_RECORDS_PER_SEC).
#pragma once

#include <cstdint>

namespace zerotrace::cupti {

// Fixed one-second windows: the first `max_per_sec` records of a window pass, the rest are skipped
// and counted, so the daemon can scale counts back up and report the loss. Windows are anchored
// on the first record so a burst after an idle period starts a fresh window. Not thread-safe: the
// injector serialises buffer processing. max_per_sec == 0 means no cap.
class RateLimiter {
 public:
  explicit RateLimiter(uint64_t max_per_sec) : max_per_sec_(max_per_sec) {}

  bool Allow(uint64_t now_ns) {
    if (max_per_sec_ == 0) return true;
    if (!started_ || now_ns - window_start_ns_ >= kWindowNs || now_ns < window_start_ns_) {
      started_ = true;
      window_start_ns_ = now_ns;
      in_window_ = 0;
    }
    if (in_window_ < max_per_sec_) {
      ++in_window_;
      return true;
    }
    ++skipped_;
    return false;
  }

  uint64_t skipped() const { return skipped_; }
  uint64_t max_per_sec() const { return max_per_sec_; }

 private:
  static constexpr uint64_t kWindowNs = 1'000'000'000ULL;
  uint64_t max_per_sec_;
  bool started_ = false;
  uint64_t window_start_ns_ = 0;
  uint64_t in_window_ = 0;
  uint64_t skipped_ = 0;
};

// Parses ZEROTRACE_CUPTI_MAX_RECORDS_PER_SEC-style values: decimal, 0 = unlimited; anything
// unparsable falls back to the default rather than failing the application.
uint64_t ParseMaxRecordsPerSec(const char* value, uint64_t fallback);

inline constexpr uint64_t kDefaultMaxRecordsPerSec = 100000;

}  // namespace zerotrace::cupti
