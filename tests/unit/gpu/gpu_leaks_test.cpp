// GpuLeaks: which ledger counts (driver allocations, else CUPTI's), the bound, a missed free,
// forgetting a process, and the report.
#include "gpu/gpu_leaks.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace zerotrace::gpu {
namespace {

GpuLeaks::Site NoStack() { return {}; }

std::string Service(uint32_t pid) { return "svc" + std::to_string(pid); }

TEST(GpuLeaksTest, DriverLedgerCountsOnceTheProcessMadeADriverAllocation) {
  GpuLeaks leaks(100);
  leaks.OnCuptiAlloc(7, 0x1000, 300);
  EXPECT_FALSE(leaks.DriverCounts(7));
  EXPECT_EQ(leaks.Outstanding(7), 300u);
  leaks.OnDriverAlloc(7, 0x1000, 200, NoStack);  // the same memory, seen by both paths
  EXPECT_TRUE(leaks.DriverCounts(7));
  EXPECT_EQ(leaks.Outstanding(7), 200u);  // never 500: not counted twice
  EXPECT_TRUE(leaks.OnDriverFree(7, 0x1000));
  EXPECT_EQ(leaks.Outstanding(7), 0u);
  EXPECT_FALSE(leaks.OnDriverFree(7, 0x1000));  // unknown now
  EXPECT_FALSE(leaks.OnDriverFree(8, 0x1000));  // unknown process
}

TEST(GpuLeaksTest, AMissedFreeIsReplacedAndTheBoundHolds) {
  GpuLeaks leaks(2);
  int resolved = 0;
  auto site = [&] {
    ++resolved;
    return GpuLeaks::Site{};
  };
  leaks.OnDriverAlloc(1, 0xa, 10, site);
  leaks.OnDriverAlloc(1, 0xa, 30, site);  // same address again: the free was missed
  EXPECT_EQ(leaks.Outstanding(1), 30u);
  leaks.OnDriverAlloc(1, 0xb, 5, site);
  leaks.OnDriverAlloc(1, 0xc, 7, site);  // past the bound: not tracked, no stack resolved
  EXPECT_EQ(leaks.Outstanding(1), 35u);
  EXPECT_EQ(resolved, 3);
  leaks.OnCuptiAlloc(2, 0x1, 1);
  leaks.OnCuptiAlloc(2, 0x2, 2);
  leaks.OnCuptiAlloc(2, 0x3, 4);  // past the bound
  leaks.OnCuptiRelease(2, 0x9);   // unknown: ignored
  EXPECT_EQ(leaks.Outstanding(2), 3u);
}

TEST(GpuLeaksTest, LeaksGroupSitesLargestFirstAndForgetDropsAProcess) {
  GpuLeaks leaks(100);
  auto frames = std::make_shared<Frames>();
  auto at = [&](int32_t id) {
    return [=] { return GpuLeaks::Site{id, id == 1 ? FramesPtr(frames) : nullptr, 0}; };
  };
  leaks.OnDriverAlloc(1, 0x1, 100, at(1));
  leaks.OnDriverAlloc(1, 0x2, 100, at(1));
  leaks.OnDriverAlloc(1, 0x3, 500, at(2));
  leaks.OnCuptiAlloc(2, 0x1, 50);
  const auto l = leaks.Leaks(10, Service);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].pid, 1u);
  EXPECT_EQ(l[0].service, "svc1");
  EXPECT_EQ(l[0].outstanding_bytes, 700u);
  EXPECT_EQ(l[0].outstanding_allocations, 3u);
  ASSERT_EQ(l[0].sites.size(), 2u);
  EXPECT_EQ(l[0].sites[0].bytes, 500u);
  EXPECT_EQ(l[0].sites[1].allocations, 2u);
  EXPECT_EQ(l[1].sites.size(), 1u);  // CUPTI only: one site without a stack
  EXPECT_EQ(leaks.Leaks(1, Service)[0].sites.size(), 1u);
  const std::string report = GpuLeaks::Report(l);
  EXPECT_NE(report.find("svc1 (pid 1): 700 bytes in 3 outstanding allocations"), std::string::npos)
      << report;
  EXPECT_NE(report.find("[no stack: lost, or seen only by CUPTI]"), std::string::npos);
  leaks.Forget(1);
  leaks.Forget(2);
  EXPECT_TRUE(leaks.Leaks(10, Service).empty());
  EXPECT_EQ(GpuLeaks::Report({}), "no outstanding GPU allocations\n");
}

}  // namespace
}  // namespace zerotrace::gpu
