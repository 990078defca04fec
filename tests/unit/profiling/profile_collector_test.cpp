#include "profiling/profile_collector.h"

#include <gtest/gtest.h>

#include "fake_source.h"

namespace zerotrace::profiling {
namespace {

using testing::Count;
using testing::FakeSource;
using testing::NamingSymbolizer;

struct Fixture {
  explicit Fixture(profile::ProfileType type = profile::ProfileType::kOnCpu) {
    auto src = std::make_unique<FakeSource>(type);
    source = src.get();
    user = std::make_shared<NamingSymbolizer>("u", profile::FrameKind::kUser);
    collector = std::make_unique<ProfileCollector>(
        std::move(src), nullptr,
        Symbolizers{std::make_shared<NamingSymbolizer>("k", profile::FrameKind::kKernel), user});
    collector->SetProcessNamer(
        [](uint32_t pid, const std::string& comm) { return comm + "#" + std::to_string(pid); });
    source->stacks[1] = {0xa1};
    source->stacks[2] = {0x11, 0x12};
    source->stacks[3] = {0x21};
  }
  FakeSource* source;
  std::shared_ptr<NamingSymbolizer> user;
  std::unique_ptr<ProfileCollector> collector;
};

TEST(ProfileCollectorTest, RecordingGetsWhatIsPolledBetweenStartAndStop) {
  Fixture f;
  f.source->pending = {Count(1, 1, 2, 100)};  // before the start: not in the recording
  auto id = f.collector->StartRecording();
  f.source->pending = {Count(1, 1, 2, 3), Count(2, -EFAULT, 3, 4, "db")};
  ASSERT_TRUE(f.collector->Poll().ok());
  f.source->pending = {Count(1, 1, 2, 2)};  // drained by Stop's own poll
  auto p = f.collector->StopRecording(id);
  EXPECT_EQ(p.type, profile::ProfileType::kOnCpu);
  EXPECT_EQ(p.period_ns, 10000000u);
  EXPECT_GT(p.start_unix_ns, 0);
  EXPECT_GE(p.duration_ns, 0);
  EXPECT_EQ(profile::TotalValue(p), 9u);
  ASSERT_EQ(p.samples.size(), 2u);  // identical stacks merged
  EXPECT_EQ(p.samples[0].process, "app#1");
  EXPECT_EQ(p.samples[0].value, 5u);
  EXPECT_EQ(p.samples[1].process, "db#2");
  // Every process was prepared (snapshotted) before its frames were resolved.
  EXPECT_NE(std::find(f.user->prepared.begin(), f.user->prepared.end(), 2u),
            f.user->prepared.end());
}

TEST(ProfileCollectorTest, RecordingsFilterByPidAndRunSideBySide) {
  Fixture f;
  auto all = f.collector->StartRecording();
  auto only2 = f.collector->StartRecording({2});
  f.source->pending = {Count(1, 1, 2, 3), Count(2, -EFAULT, 3, 4)};
  ASSERT_TRUE(f.collector->Poll().ok());
  auto p2 = f.collector->StopRecording(only2);
  auto pall = f.collector->StopRecording(all);
  EXPECT_EQ(profile::TotalValue(p2), 4u);
  EXPECT_EQ(profile::TotalValue(pall), 7u);
  EXPECT_TRUE(f.collector->StopRecording(12345).samples.empty());  // unknown id
}

TEST(ProfileCollectorTest, TotalsAreSinceTheLastCall) {
  Fixture f;
  f.source->pending = {Count(1, 1, 2, 3), Count(1, -EFAULT, 3, 2), Count(2, 1, 3, 1)};
  ASSERT_TRUE(f.collector->Poll().ok());
  auto t = f.collector->TakeTotals();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[1].samples, 5u);
  EXPECT_EQ(t[1].nanoseconds, 5u * 10000000u);
  EXPECT_EQ(t[1].comm, "app#1");
  EXPECT_TRUE(f.collector->TakeTotals().empty());
  f.source->pending = {Count(1, 1, 2, 1)};
  ASSERT_TRUE(f.collector->Poll().ok());
  EXPECT_EQ(f.collector->TakeTotals()[1].samples, 1u);
}

TEST(ProfileCollectorTest, OffCpuTotalsAreNanosecondsBlocked) {
  Fixture f(profile::ProfileType::kOffCpu);
  auto r = Count(1, 1, 2, 0);
  r.count = 10;
  r.value = 1500000000;
  f.source->pending = {r};
  auto id = f.collector->StartRecording();
  f.source->pending = {r};
  auto p = f.collector->StopRecording(id);
  EXPECT_EQ(p.type, profile::ProfileType::kOffCpu);
  EXPECT_EQ(profile::TotalValue(p), 1500000000u);
  auto t = f.collector->TakeTotals();
  EXPECT_EQ(t[1].samples, 20u);
  EXPECT_EQ(t[1].nanoseconds, 3000000000u);
}

// A sample whose stack collided in the kernel map is still counted: it is a lost stack, not a
// lost event (the events-lost alert must not fire on a busy node's stack collisions).
TEST(ProfileCollectorTest, LostStacksAreCountedApartFromLostEvents) {
  Fixture f;
  f.source->pending = {Count(1, -EEXIST, 2, 1), Count(1, 1, 99, 1)};  // 99: cleared id
  ASSERT_TRUE(f.collector->Poll().ok());
  EXPECT_EQ(f.collector->events_lost(), 7u);
  EXPECT_EQ(f.collector->stacks_lost(), 5u + 1u);
}

TEST(ProfileCollectorTest, RecordPollsForTheDuration) {
  Fixture f;
  f.source->pending = {Count(1, 1, 2, 3)};
  int polls = 0;
  auto p = f.collector->Record(std::chrono::milliseconds(250), {}, std::chrono::milliseconds(50),
                               {}, [&] { ++polls; });
  EXPECT_GE(polls, 2);
  EXPECT_EQ(p.duration_ns >= 250000000, true);
  EXPECT_TRUE(p.samples.empty());  // drained by the start's poll, before the window
}

}  // namespace
}  // namespace zerotrace::profiling
