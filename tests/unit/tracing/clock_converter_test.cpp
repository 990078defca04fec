#include "tracing/clock_converter.h"

#include <gtest/gtest.h>
#include <time.h>

#include <cstdlib>
#include <memory>
#include <vector>

namespace zerotrace::tracing {
namespace {

// Replays (monotonic, realtime, monotonic) triples; the realtime read happens at
// m1 + `real_at` ns, so the estimate for a triple is off by (real_at - gap/2).
class ScriptedClock {
 public:
  struct Read {
    int64_t m1;
    int64_t gap;
    int64_t real_at;
  };
  ScriptedClock(int64_t true_offset, std::vector<Read> reads)
      : offset_(true_offset), reads_(std::move(reads)) {}

  ClockSource Source() {
    return ClockSource{[this] { return Real(); }, [this] { return Mono(); }};
  }
  void set_offset(int64_t o) { offset_ = o; }
  void Rewind() {
    i_ = 0;
    mono_calls_ = 0;
  }

 private:
  int64_t Mono() {
    const Read& r = reads_[i_ % reads_.size()];
    int64_t v = (mono_calls_ % 2 == 0) ? r.m1 : r.m1 + r.gap;
    if (mono_calls_ % 2 == 1) ++i_;
    ++mono_calls_;
    return v;
  }
  int64_t Real() {
    const Read& r = reads_[i_ % reads_.size()];
    return r.m1 + r.real_at + offset_;
  }
  int64_t offset_;
  std::vector<Read> reads_;
  size_t i_ = 0;
  size_t mono_calls_ = 0;
};

TEST(ClockConverterTest, PicksMinGapPair) {
  constexpr int64_t kOffset = 1'700'000'000'000'000'000;
  ScriptedClock clock(kOffset, {{1'000'000, 10'000, 0},       // error -5000
                                {2'000'000, 40, 20},          // exact, gap 40
                                {3'000'000, 8'000, 8'000}});  // error +4000
  ClockConverter conv(clock.Source(), 3);
  EXPECT_EQ(conv.uncertainty_ns(), 40);
  EXPECT_EQ(conv.offset_ns(), kOffset);
  EXPECT_EQ(conv.MonotonicToUnixNs(5'000'000'000), 5'000'000'000 + kOffset);
}

TEST(ClockConverterTest, RefreshFollowsClockStep) {
  constexpr int64_t kOffset = 1'700'000'000'000'000'000;
  ScriptedClock clock(kOffset, {{1'000, 100, 50}});
  ClockConverter conv(clock.Source(), 2);
  EXPECT_EQ(conv.offset_ns(), kOffset);
  clock.set_offset(kOffset + 1'000'000'000);  // NTP step of +1 s
  clock.Rewind();
  EXPECT_EQ(conv.Refresh(), 100);
  EXPECT_EQ(conv.offset_ns(), kOffset + 1'000'000'000);
}

TEST(ClockConverterTest, NegativeGapsIgnored) {
  ScriptedClock clock(5'000, {{1'000, -10, 0}});
  ClockConverter conv(clock.Source(), 3);
  EXPECT_EQ(conv.offset_ns(), 0);  // never set
  EXPECT_EQ(conv.Refresh(), -1);
}

TEST(ClockConverterTest, SystemClockMatchesRealtime) {
  ClockConverter conv;
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  uint64_t mono_ns = uint64_t(mono.tv_sec) * 1'000'000'000 + mono.tv_nsec;
  int64_t real_ns = int64_t(real.tv_sec) * 1'000'000'000 + real.tv_nsec;
  int64_t converted = static_cast<int64_t>(conv.MonotonicToUnixNs(mono_ns));
  EXPECT_LT(std::llabs(converted - real_ns), 5'000'000);  // within 5 ms
  EXPECT_GE(conv.uncertainty_ns(), 0);
}

}  // namespace
}  // namespace zerotrace::tracing
