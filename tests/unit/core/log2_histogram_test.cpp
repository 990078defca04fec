#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "aggregators/log2_histogram.h"

namespace zerotrace {
namespace {

TEST(Log2BucketsTest, BoundariesArePowersOfTwoNanoseconds) {
  const auto& b = Log2Buckets::BoundariesSeconds();
  ASSERT_EQ(b.size(), 13u);
  EXPECT_DOUBLE_EQ(b.front(), 1024e-9);
  EXPECT_DOUBLE_EQ(b.back(), std::ldexp(1.0, 34) / 1e9);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_DOUBLE_EQ(b[i] / b[i - 1], 4.0);
}

// Slot s holds [2^s, 2^(s+1)) ns; every value of the slot must be <= the bucket's bound and
// > the previous bound.
TEST(Log2BucketsTest, EachSlotLandsInTheTightestBucketHoldingIt) {
  const auto& b = Log2Buckets::BoundariesSeconds();
  for (size_t s = 0; s < 32; ++s) {
    std::vector<uint64_t> slots(32, 0);
    slots[s] = 7;
    auto inc = Log2Buckets::Increments(slots);
    ASSERT_EQ(inc.size(), b.size() + 1);
    size_t bucket = 0;
    while (bucket < inc.size() && inc[bucket] == 0) ++bucket;
    ASSERT_LT(bucket, inc.size());
    EXPECT_EQ(inc[bucket], 7);
    const double slot_hi = std::ldexp(1.0, static_cast<int>(s) + 1) / 1e9;  // exclusive
    const double slot_lo = std::ldexp(1.0, static_cast<int>(s)) / 1e9;
    if (bucket < b.size()) {
      EXPECT_LE(slot_hi, b[bucket] + 1e-18) << "slot " << s;
    }
    if (bucket > 0) {
      EXPECT_GE(slot_lo, b[bucket - 1]) << "slot " << s;
    }
  }
}

TEST(Log2BucketsTest, CountsAreConserved) {
  std::vector<uint64_t> slots(32);
  uint64_t total = 0;
  for (size_t i = 0; i < slots.size(); ++i) total += (slots[i] = i * 3 + 1);
  double sum = 0;
  for (double v : Log2Buckets::Increments(slots)) sum += v;
  EXPECT_EQ(sum, static_cast<double>(total));
}

}  // namespace
}  // namespace zerotrace
