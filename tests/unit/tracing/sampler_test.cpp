#include "tracing/sampler.h"

#include <gtest/gtest.h>

#include "tracing/id_generator.h"

namespace zerotrace::tracing {
namespace {

Span MakeSpan(const TraceId& id, uint64_t duration_ns, StatusCode code = StatusCode::kUnset) {
  Span s;
  s.trace_id = id;
  s.start_unix_ns = 1'000;
  s.end_unix_ns = 1'000 + duration_ns;
  s.status.code = code;
  return s;
}

TEST(SamplerTest, DefaultKeepsEverything) {
  Sampler sampler;
  IdGenerator ids(1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(sampler.Decide(MakeSpan(ids.NewTraceId(), 1)).keep);
}

TEST(SamplerTest, RatioZeroDropsAllButErrorsAndSlow) {
  Sampler sampler({.ratio = 0.0, .keep_errors = true, .keep_slower_than_ns = 1'000'000});
  IdGenerator ids(2);
  auto fast_ok = sampler.Decide(MakeSpan(ids.NewTraceId(), 10));
  EXPECT_FALSE(fast_ok.keep);
  auto error = sampler.Decide(MakeSpan(ids.NewTraceId(), 10, StatusCode::kError));
  EXPECT_TRUE(error.keep);
  EXPECT_EQ(error.reason, SamplingReason::kError);
  auto slow = sampler.Decide(MakeSpan(ids.NewTraceId(), 2'000'000));
  EXPECT_TRUE(slow.keep);
  EXPECT_EQ(slow.reason, SamplingReason::kSlow);
}

TEST(SamplerTest, ErrorRuleCanBeDisabled) {
  Sampler sampler({.ratio = 0.0, .keep_errors = false});
  IdGenerator ids(3);
  EXPECT_FALSE(sampler.Decide(MakeSpan(ids.NewTraceId(), 10, StatusCode::kError)).keep);
}

TEST(SamplerTest, RatioIsApproximatelyHonoured) {
  Sampler sampler({.ratio = 0.25});
  IdGenerator ids(4);
  int kept = 0;
  constexpr int kN = 40000;
  for (int i = 0; i < kN; ++i) kept += sampler.SampledByRatio(ids.NewTraceId()) ? 1 : 0;
  EXPECT_GT(kept, kN * 23 / 100);
  EXPECT_LT(kept, kN * 27 / 100);
}

TEST(SamplerTest, DeterministicByTraceId) {
  Sampler a({.ratio = 0.5}), b({.ratio = 0.5});
  IdGenerator ids(5);
  for (int i = 0; i < 1000; ++i) {
    TraceId t = ids.NewTraceId();
    EXPECT_EQ(a.SampledByRatio(t), b.SampledByRatio(t));
    EXPECT_EQ(a.SampledByRatio(t), a.SampledByRatio(t));
  }
}

TEST(SamplerTest, ThresholdUsesLowBytes) {
  Sampler sampler({.ratio = 0.5});
  TraceId low{};  // low 8 bytes = 0 → below any positive threshold
  low[0] = 0xff;
  TraceId high{};  // low 63 bits all ones → above threshold
  for (int i = 8; i < 16; ++i) high[i] = 0xff;
  EXPECT_TRUE(sampler.SampledByRatio(low));
  EXPECT_FALSE(sampler.SampledByRatio(high));
}

TEST(SamplerTest, RatioClamped) {
  EXPECT_EQ(Sampler({.ratio = 7.0}).options().ratio, 1.0);
  EXPECT_EQ(Sampler({.ratio = -1.0}).options().ratio, 0.0);
}

}  // namespace
}  // namespace zerotrace::tracing
