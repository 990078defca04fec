#include "tracing/id_generator.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace zerotrace::tracing {
namespace {

TEST(IdGeneratorTest, NonZeroAndUnique) {
  IdGenerator gen;
  std::set<std::string> traces, spans;
  for (int i = 0; i < 10000; ++i) {
    TraceId t = gen.NewTraceId();
    SpanId s = gen.NewSpanId();
    EXPECT_TRUE(IsValid(t));
    EXPECT_TRUE(IsValid(s));
    traces.insert(ToHex(t));
    spans.insert(ToHex(s));
  }
  EXPECT_EQ(traces.size(), 10000u);
  EXPECT_EQ(spans.size(), 10000u);
}

TEST(IdGeneratorTest, InstancesAreIndependentlySeeded) {
  IdGenerator a, b;
  EXPECT_NE(a.NewTraceId(), b.NewTraceId());
}

TEST(IdGeneratorTest, SeededIsDeterministic) {
  IdGenerator a(42), b(42);
  EXPECT_EQ(a.NewTraceId(), b.NewTraceId());
  EXPECT_EQ(a.NewSpanId(), b.NewSpanId());
}

TEST(IdGeneratorTest, ThreadSafe) {
  IdGenerator gen;
  constexpr int kThreads = 4, kPer = 5000;
  std::vector<std::vector<SpanId>> out(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) out[t].push_back(gen.NewSpanId());
    });
  }
  for (auto& th : threads) th.join();
  std::set<SpanId> all;
  for (const auto& v : out) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPer));
}

TEST(IdGeneratorTest, BytesLookUniform) {
  // Each bit of the low 8 trace-id bytes (what the sampler reads) is set about half the time.
  IdGenerator gen(7);
  constexpr int kN = 20000;
  int ones[64] = {};
  for (int i = 0; i < kN; ++i) {
    TraceId t = gen.NewTraceId();
    for (int b = 0; b < 64; ++b) ones[b] += (t[8 + b / 8] >> (b % 8)) & 1;
  }
  for (int b = 0; b < 64; ++b) {
    EXPECT_GT(ones[b], kN * 45 / 100) << b;
    EXPECT_LT(ones[b], kN * 55 / 100) << b;
  }
}

}  // namespace
}  // namespace zerotrace::tracing
