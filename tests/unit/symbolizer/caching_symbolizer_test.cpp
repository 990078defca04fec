#include "symbolizer/caching_symbolizer.h"

#include <gtest/gtest.h>

#include <set>

namespace zerotrace::symbolizer {
namespace {

class CountingSymbolizer : public Symbolizer {
 public:
  profile::Frame Symbolize(uint32_t pid, uint64_t address) override {
    ++calls;
    profile::Frame f;
    f.function = "f" + std::to_string(pid) + "_" + std::to_string(address);
    return f;
  }
  void Prepare(uint32_t) override { ++prepares; }
  void Forget(uint32_t pid) override { forgotten.insert(pid); }
  int calls = 0;
  int prepares = 0;
  std::set<uint32_t> forgotten;
};

TEST(CachingSymbolizerTest, ResolvesEachAddressOncePerProcess) {
  auto inner = std::make_shared<CountingSymbolizer>();
  CachingSymbolizer cache(inner);
  EXPECT_EQ(cache.Symbolize(1, 100).function, "f1_100");
  EXPECT_EQ(cache.Symbolize(1, 100).function, "f1_100");
  EXPECT_EQ(cache.Symbolize(2, 100).function, "f2_100");  // same address, other process
  EXPECT_EQ(inner->calls, 2);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 2u);
}

TEST(CachingSymbolizerTest, IsBoundedOverAllProcesses) {
  auto inner = std::make_shared<CountingSymbolizer>();
  CachingSymbolizer cache(inner, 4);
  for (uint64_t a = 0; a < 10; ++a) cache.Symbolize(1, a);
  EXPECT_LE(cache.cached_frames(), 4u);
  cache.Symbolize(1, 9);
  EXPECT_EQ(inner->calls, 10);  // 9 is still cached after the reset at 8
  // Many processes, each under the bound alone, stay within it together: the largest goes.
  for (uint32_t pid = 10; pid < 20; ++pid) {
    cache.Symbolize(pid, 1);
    cache.Symbolize(pid, 2);
    EXPECT_LE(cache.cached_frames(), 4u);
  }
  const size_t bytes = cache.memory_bytes();
  EXPECT_GT(bytes, 0u);
  EXPECT_LE(bytes, 4 * (sizeof(profile::Frame) + 64));
  cache.Forget(19);
  cache.Forget(18);
  EXPECT_LT(cache.memory_bytes(), bytes);
}

TEST(CachingSymbolizerTest, ForgetsExitedProcessesOneSweepAfterSeeingThemDead) {
  auto inner = std::make_shared<CountingSymbolizer>();
  CachingSymbolizer cache(inner);
  cache.Prepare(1);
  cache.Prepare(2);
  EXPECT_EQ(inner->prepares, 2);
  auto alive = [](uint32_t pid) { return pid == 1; };
  EXPECT_TRUE(cache.SweepExited(alive).empty());  // 2 is dying: its late samples still resolve
  EXPECT_EQ(cache.cached_processes(), 2u);
  EXPECT_EQ(cache.SweepExited(alive), std::vector<uint32_t>{2});
  EXPECT_EQ(cache.cached_processes(), 1u);
  EXPECT_TRUE(inner->forgotten.count(2));
  EXPECT_FALSE(inner->forgotten.count(1));
}

TEST(CachingSymbolizerTest, ExplicitForgetDropsTheCache) {
  auto inner = std::make_shared<CountingSymbolizer>();
  CachingSymbolizer cache(inner);
  cache.Symbolize(7, 1);
  cache.Forget(7);
  cache.Symbolize(7, 1);
  EXPECT_EQ(inner->calls, 2);
  EXPECT_TRUE(inner->forgotten.count(7));
}

}  // namespace
}  // namespace zerotrace::symbolizer
