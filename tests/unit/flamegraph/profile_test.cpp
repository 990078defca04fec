#include "flamegraph/profile.h"

#include <gtest/gtest.h>

#include "test_profiles.h"

namespace zerotrace::flamegraph {
namespace {

using testing::Gpu;
using testing::Jit;
using testing::Kernel;
using testing::Stack;
using testing::User;

TEST(FrameNameTest, FallsBackToModuleOffsetThenAddressThenUnknown) {
  Frame f;
  f.kind = FrameKind::kUser;
  EXPECT_EQ(FrameName(f), "[unknown]");
  f.address = 0xdeadbeef;
  EXPECT_EQ(FrameName(f), "0xdeadbeef");
  f.module = "/lib/libc.so.6";
  f.module_offset = 0x1a2b;
  EXPECT_EQ(FrameName(f), "/lib/libc.so.6+0x1a2b");
  f.function = "memcpy";
  EXPECT_EQ(FrameName(f), "memcpy");
}

TEST(FrameNameTest, LabelsCarryKindDecoration) {
  EXPECT_EQ(FrameLabel(Kernel("schedule")), "schedule_[k]");
  EXPECT_EQ(FrameLabel(Jit("Interpreter")), "Interpreter_[j]");
  EXPECT_EQ(FrameLabel(Gpu("gemm_kernel")), "[gpu] gemm_kernel");
  EXPECT_EQ(FrameLabel(User("main")), "main");
}

TEST(ProfileTest, MergeSumsIdenticalStacksAndKeepsFirstOrder) {
  Profile p;
  p.samples.push_back(Stack("a", 1, {User("main"), User("f")}, 2));
  p.samples.push_back(Stack("a", 1, {User("main"), User("g")}, 3));
  p.samples.push_back(Stack("a", 1, {User("main"), User("f")}, 5));
  p.samples.push_back(Stack("a", 2, {User("main"), User("f")}, 7));        // other pid
  p.samples.push_back(Stack("a", 1, {User("main"), User("f")}, 1, true));  // truncated
  p.samples.push_back(Stack("a", 1, {User("main"), User("z")}, 0));        // zero: dropped
  MergeIdenticalStacks(p);
  ASSERT_EQ(p.samples.size(), 4u);
  EXPECT_EQ(p.samples[0].value, 7u);
  EXPECT_EQ(p.samples[0].frames.back().function, "f");
  EXPECT_EQ(p.samples[1].value, 3u);
  EXPECT_EQ(p.samples[2].pid, 2u);
  EXPECT_TRUE(p.samples[3].truncated);
  EXPECT_EQ(TotalValue(p), 18u);
}

TEST(ProfileTest, TotalValueSaturates) {
  Profile p;
  p.samples.push_back(Stack("a", 1, {}, UINT64_MAX - 1));
  p.samples.push_back(Stack("a", 1, {}, 5));
  EXPECT_EQ(TotalValue(p), UINT64_MAX);
}

TEST(ProfileTest, TopFunctionsBySelfAndTotal) {
  Profile p = testing::OnCpuProfile();
  std::vector<FunctionStat> by_self = TopFunctions(p, 2);
  ASSERT_EQ(by_self.size(), 2u);
  EXPECT_EQ(by_self[0].name, "compute");
  EXPECT_EQ(by_self[0].self, 60u);
  EXPECT_EQ(by_self[0].total, 60u);
  EXPECT_EQ(by_self[1].name, "sys_write");
  EXPECT_EQ(by_self[1].kind, FrameKind::kKernel);
  EXPECT_EQ(by_self[1].self, 30u);

  std::vector<FunctionStat> by_total = TopFunctions(p, 10, TopOrder::kByTotal);
  ASSERT_EQ(by_total.size(), 6u);
  EXPECT_EQ(by_total[0].name, "main");
  EXPECT_EQ(by_total[0].total, 100u);
  EXPECT_EQ(by_total[0].self, 0u);
  EXPECT_EQ(by_total[1].name, "work");
  EXPECT_EQ(by_total[1].total, 90u);
}

TEST(ProfileTest, TopFunctionsCountsRecursionOnce) {
  Profile p;
  p.samples.push_back(Stack("a", 1, {User("main"), User("fib"), User("fib"), User("fib")}, 4));
  std::vector<FunctionStat> top = TopFunctions(p, 10);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].name, "fib");
  EXPECT_EQ(top[0].self, 4u);
  EXPECT_EQ(top[0].total, 4u);
}

TEST(ProfileTest, TopFunctionsOfEmptyProfile) {
  EXPECT_TRUE(TopFunctions(Profile{}, 5).empty());
  EXPECT_TRUE(TopFunctions(testing::OnCpuProfile(), 0).empty());
}

}  // namespace
}  // namespace zerotrace::flamegraph
