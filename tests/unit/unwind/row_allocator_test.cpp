#include "unwind/row_allocator.h"

#include <gtest/gtest.h>

namespace zerotrace::unwind {
namespace {

TEST(RowAllocatorTest, FirstFitRunsAndFreedNeighboursMerge) {
  RowAllocator a(100);
  auto x = a.Allocate(30), y = a.Allocate(30), z = a.Allocate(30);
  ASSERT_TRUE(x && y && z);
  EXPECT_EQ(*x, 0u);
  EXPECT_EQ(*y, 30u);
  EXPECT_EQ(*z, 60u);
  EXPECT_FALSE(a.Allocate(11));  // 10 left
  EXPECT_EQ(a.used(), 90u);
  a.Free(*x, 30);
  a.Free(*y, 30);  // merges with x's run: 60 free at 0
  auto big = a.Allocate(60);
  ASSERT_TRUE(big);
  EXPECT_EQ(*big, 0u);
  a.Free(*big, 60);
  a.Free(*z, 30);  // everything free again, one run
  auto all = a.Allocate(100);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, 0u);
  EXPECT_EQ(a.used(), 100u);
  EXPECT_FALSE(a.Allocate(0));
}

TEST(RowAllocatorTest, FreeingTwiceDoesNotCorrupt) {
  RowAllocator a(10);
  auto x = a.Allocate(5);
  ASSERT_TRUE(x);
  a.Free(*x, 5);
  a.Free(*x, 5);
  auto y = a.Allocate(10);
  ASSERT_TRUE(y);
  EXPECT_FALSE(a.Allocate(1));
}

}  // namespace
}  // namespace zerotrace::unwind
