// SumPerCpuCounters over a real per-CPU array: the profilers split their `drops` map into
// samples lost (reasons 4..) and stacks lost (reasons 0..3) by summing key ranges. They once
// subtracted one read from another taken later, which went below zero (2^64 - n "lost events")
// while the kernel was counting.
#include "probes/bpf_util.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "test_util.h"

namespace zerotrace {
namespace {

TEST(BpfUtilTest, PerCpuCounterRanges) {
  ZT_REQUIRE_BPF();
  const int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "zt_test_drops", sizeof(__u32),
                                sizeof(__u64), 6, nullptr);
  ASSERT_GE(fd, 0);
  const int ncpu = libbpf_num_possible_cpus();
  ASSERT_GT(ncpu, 0);
  for (__u32 key = 0; key < 6; ++key) {
    std::vector<__u64> values(static_cast<size_t>(ncpu), key + 1);  // key k: k+1 per CPU
    ASSERT_EQ(bpf_map_update_elem(fd, &key, values.data(), BPF_ANY), 0);
  }
  const uint64_t n = static_cast<uint64_t>(ncpu);
  EXPECT_EQ(SumPerCpuCounters(fd, 6), n * (1 + 2 + 3 + 4 + 5 + 6));
  EXPECT_EQ(SumPerCpuCounters(fd, 0, 4), n * (1 + 2 + 3 + 4));
  EXPECT_EQ(SumPerCpuCounters(fd, 4, 6), n * (5 + 6));
  EXPECT_EQ(SumPerCpuCounters(fd, 6, 6), 0u);
  EXPECT_EQ(SumPerCpuCounters(-1, 0, 6), 0u);
  close(fd);
}

}  // namespace
}  // namespace zerotrace
