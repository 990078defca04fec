#include "profiling/stack_assembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "fake_source.h"
#include "symbolizer/kallsyms.h"

namespace zerotrace::profiling {
namespace {

using testing::Count;
using testing::FakeSource;
using testing::NamingSymbolizer;

struct Fixture {
  Fixture() {
    kernel = std::make_shared<NamingSymbolizer>("k", profile::FrameKind::kKernel);
    user = std::make_shared<NamingSymbolizer>("u", profile::FrameKind::kUser);
    assembler = std::make_unique<StackAssembler>(source, Symbolizers{kernel, user});
  }
  std::vector<std::string> Names(const profile::StackSample& s) {
    std::vector<std::string> out;
    for (const auto& f : s.frames) out.push_back(f.function);
    return out;
  }
  FakeSource source;
  std::shared_ptr<NamingSymbolizer> kernel, user;
  std::unique_ptr<StackAssembler> assembler;
};

TEST(StackAssemblerTest, UserRootFirstThenKernelOnTop) {
  Fixture f;
  f.source.stacks[1] = {0xa1, 0xa2};        // kernel: leaf a1, caller a2
  f.source.stacks[2] = {0x11, 0x12, 0x13};  // user: leaf 11 ... main 13
  auto s = f.assembler->Assemble(Count(42, 1, 2, 5), "app");
  EXPECT_EQ(f.Names(s),
            (std::vector<std::string>{"u42_13", "u42_12", "u42_11", "k42_a2", "k42_a1"}));
  EXPECT_EQ(s.process, "app");
  EXPECT_EQ(s.pid, 42u);
  EXPECT_EQ(s.value, 5u);
  EXPECT_FALSE(s.truncated);
}

// A sched_switch program's own frames (the program, past the end of kernel text, and
// bpf_trace_run4) top every off-CPU kernel stack; they are cut there. On-CPU samples that land in
// a BPF program are real CPU time and keep them.
TEST(StackAssemblerTest, OffCpuStacksLoseTheCapturingProgramsFrames) {
  std::istringstream table(
      "ffffffff81000000 T _stext\n"
      "ffffffff81100000 T schedule\n"
      "ffffffff81100100 T __schedule\n"
      "ffffffff81200000 T bpf_trace_run4\n"
      "ffffffff81300000 T _etext\n");
  auto symbols = symbolizer::KernelSymbols::Parse(table);
  ASSERT_TRUE(symbols.ok()) << symbols.error().message;
  auto kernel = std::make_shared<symbolizer::KallsymsSymbolizer>(std::move(*symbols));
  auto user = std::make_shared<NamingSymbolizer>("u", profile::FrameKind::kUser);
  const std::vector<uint64_t> kernel_stack = {0xffffffffc0001000, 0xffffffff81200010,
                                              0xffffffff81100110, 0xffffffff81100010};
  auto kernel_names = [](const profile::StackSample& s) {
    std::vector<std::string> out;
    for (const auto& f : s.frames) {
      if (f.kind == profile::FrameKind::kKernel) out.push_back(profile::FrameName(f));
    }
    return out;
  };

  FakeSource off(profile::ProfileType::kOffCpu);
  off.stacks[1] = kernel_stack;
  off.stacks[2] = {0x11};
  StackAssembler off_assembler(off, Symbolizers{kernel, user});
  EXPECT_EQ(kernel_names(off_assembler.Assemble(Count(7, 1, 2, 100), "app")),
            (std::vector<std::string>{"schedule", "__schedule"}));

  FakeSource on(profile::ProfileType::kOnCpu);
  on.stacks[1] = kernel_stack;
  on.stacks[2] = {0x11};
  StackAssembler on_assembler(on, Symbolizers{kernel, user});
  const auto names = kernel_names(on_assembler.Assemble(Count(7, 1, 2, 1), "app"));
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[2], "bpf_trace_run4");
  EXPECT_EQ(names[3], profile::FrameName(profile::Frame{.address = 0xffffffffc0001000,
                                                        .kind = profile::FrameKind::kKernel}));
}

TEST(StackAssemblerTest, MissingStackKindIsNotALoss) {
  Fixture f;
  f.source.stacks[2] = {0x11};
  auto user_only = f.assembler->Assemble(Count(1, -EFAULT, 2, 1), "app");
  EXPECT_EQ(f.Names(user_only), (std::vector<std::string>{"u1_11"}));
  EXPECT_EQ(f.assembler->lost_stacks(), 0u);
}

TEST(StackAssemblerTest, FailedAndClearedStacksBecomeMarkers) {
  Fixture f;
  f.source.stacks[2] = {0x11};
  auto collided = f.assembler->Assemble(Count(1, -EEXIST, 2, 1), "app");
  EXPECT_EQ(f.Names(collided), (std::vector<std::string>{"u1_11", kLostKernelStack}));
  auto cleared = f.assembler->Assemble(Count(1, -EFAULT, 99, 1), "app");
  EXPECT_EQ(f.Names(cleared), (std::vector<std::string>{kLostUserStack}));
  EXPECT_EQ(f.assembler->lost_stacks(), 1u);  // the kernel counts its own failures
}

TEST(StackAssemblerTest, StacksAtTheDepthLimitAreTruncated) {
  Fixture f;
  f.source.depth = 3;
  f.source.stacks[1] = {0x1, 0x2, 0x3};
  f.source.stacks[2] = {0x1, 0x2};
  EXPECT_TRUE(f.assembler->Assemble(Count(1, -EFAULT, 1, 1), "app").truncated);
  EXPECT_FALSE(f.assembler->Assemble(Count(1, -EFAULT, 2, 1), "app").truncated);
}

TEST(StackAssemblerTest, CachesKernelStacksByIdAndUserStacksByProcessAndId) {
  Fixture f;
  f.source.stacks[1] = {0xa1};
  f.source.stacks[2] = {0x11};
  f.assembler->Assemble(Count(1, 1, 2, 1), "a");
  f.assembler->Assemble(Count(1, 1, 2, 1), "a");
  EXPECT_EQ(f.source.reads, 2);
  // Same user stack id in another process: same addresses, other code, resolved again.
  auto other = f.assembler->Assemble(Count(2, 1, 2, 1), "b");
  EXPECT_EQ(f.source.reads, 3);
  EXPECT_EQ(other.frames[0].function, "u2_11");
  EXPECT_EQ(f.assembler->distinct_stacks(), 2u);
  f.assembler->ForgetProcess(1);
  f.assembler->Assemble(Count(1, 1, 2, 1), "a");
  EXPECT_EQ(f.source.reads, 4);
}

TEST(StackAssemblerTest, ClearsTheStackMapWhenThreeQuartersFull) {
  Fixture f;
  f.source.capacity = 4;
  for (int32_t id = 0; id < 3; ++id) f.source.stacks[id] = {0x1};
  f.assembler->Assemble(Count(1, 0, 1, 1), "a");
  EXPECT_FALSE(f.assembler->EndPoll());
  f.assembler->Assemble(Count(1, 2, -EFAULT, 1), "a");
  EXPECT_TRUE(f.assembler->EndPoll());
  EXPECT_EQ(f.source.clears, 1);
  EXPECT_EQ(f.assembler->distinct_stacks(), 0u);
}

TEST(StackAssemblerTest, OnCpuStacksAreDeletedOnePollAfterTheirLastUse) {
  Fixture f;
  f.source.delete_after_read = true;
  f.source.stacks[1] = {0xa1};
  f.source.stacks[2] = {0x11};
  f.assembler->Assemble(Count(1, 1, 2, 1), "a");
  EXPECT_FALSE(f.assembler->EndPoll());  // a sample counted after the drain may still use them
  f.assembler->Assemble(Count(1, 1, -EFAULT, 1), "a");  // kernel stack 1 used again
  EXPECT_TRUE(f.assembler->EndPoll());
  EXPECT_EQ(f.source.deleted, (std::vector<int32_t>{2}));
  EXPECT_EQ(f.source.reads, 2);  // stack 1 came from the cache
  EXPECT_TRUE(f.assembler->EndPoll());
  std::sort(f.source.deleted.begin(), f.source.deleted.end());
  EXPECT_EQ(f.source.deleted, (std::vector<int32_t>{1, 2}));
  f.source.stacks[1] = {0xa1};  // the kernel stores it again
  f.assembler->Assemble(Count(1, 1, -EFAULT, 1), "a");
  EXPECT_EQ(f.source.reads, 3);  // read again: the cache entry went with the id
}

}  // namespace
}  // namespace zerotrace::profiling
