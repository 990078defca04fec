// SourceSet: enabled sources only, started in registration order (a later one sees the earlier,
// already started), stopped and destroyed the last created first. Fake sources record the order.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "sources/registry.h"
#include "test_util.h"

namespace zerotrace {
namespace {

std::vector<std::string> g_events;

class NoProber : public FeatureProber {
 public:
  FeatureAnswer Probe(Feature) override { return {false, "not probed in this test"}; }
};

class FakeSource : public Source {
 public:
  FakeSource(std::string name, std::string saw) : name_(std::move(name)), saw_(std::move(saw)) {}
  ~FakeSource() override { g_events.push_back("destroy " + name_); }
  const char* name() const override { return name_.c_str(); }
  void Start() override {
    started_ = true;
    g_events.push_back("start " + name_ + saw_);
  }
  std::vector<ProbeState> probes() const override { return {}; }
  void Stop() override { g_events.push_back("stop " + name_); }
  bool started() const { return started_; }

 private:
  std::string name_, saw_;
  bool started_ = false;
};

class First : public FakeSource {
 public:
  First() : FakeSource("syscalls", "") {}
};
class Second : public FakeSource {
 public:
  explicit Second(const First* first)
      : FakeSource("sockets", first && first->started() ? " (after a started syscalls)" : "") {}
};
class Third : public FakeSource {
 public:
  Third() : FakeSource("gpu", "") {}
};

std::vector<SourceRegistration> Registrations() {
  return {
      {[](const ProbeToggles& p) { return p.syscalls; },
       [](const SourceContext&, const SourceSet&) -> std::unique_ptr<Source> {
         return std::make_unique<First>();
       }},
      {[](const ProbeToggles& p) { return p.sockets; },
       [](const SourceContext&, const SourceSet& earlier) -> std::unique_ptr<Source> {
         return std::make_unique<Second>(earlier.Find<First>());
       }},
      {[](const ProbeToggles& p) { return p.cuda; },
       [](const SourceContext&, const SourceSet&) -> std::unique_ptr<Source> {
         return std::make_unique<Third>();
       }},
  };
}

class SourceSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ZT_REQUIRE_BPF();  // the context's process filter is a BPF map
    auto f = ProcessFilter::Create(ProcessSelection{});
    ASSERT_TRUE(f.ok()) << f.error().message;
    filter_ = std::make_unique<ProcessFilter>(std::move(f.value()));
    g_events.clear();
  }
  SourceContext Context() { return {config_, features_, *filter_, catalog_, registry_}; }

  Config config_;
  Features features_{std::make_unique<NoProber>()};
  std::unique_ptr<ProcessFilter> filter_;
  ProcessCatalog catalog_{"/proc"};
  prometheus::Registry registry_;
};

TEST_F(SourceSetTest, StartsEnabledSourcesInOrderAndStopsAndDestroysInReverse) {
  config_.probes.syscalls = true;
  config_.probes.sockets = true;
  config_.probes.cuda = true;
  {
    SourceSet set = SourceSet::Start(Context(), Registrations());
    ASSERT_EQ(set.all().size(), 3u);
    EXPECT_NE(set.Find<Second>(), nullptr);
    set.Clear();
    EXPECT_TRUE(set.all().empty());
  }
  EXPECT_EQ(g_events,
            (std::vector<std::string>{"start syscalls", "start sockets (after a started syscalls)",
                                      "start gpu", "stop gpu", "stop sockets", "stop syscalls",
                                      "destroy gpu", "destroy sockets", "destroy syscalls"}));
}

TEST_F(SourceSetTest, DisabledSourcesAreNeitherMadeNorFound) {
  config_.probes.syscalls = false;
  config_.probes.sockets = true;
  config_.probes.cuda = false;
  SourceSet set = SourceSet::Start(Context(), Registrations());
  ASSERT_EQ(set.all().size(), 1u);
  EXPECT_EQ(set.Find<First>(), nullptr);
  EXPECT_EQ(set.Find<Third>(), nullptr);
  EXPECT_EQ(g_events, (std::vector<std::string>{"start sockets"}));
}

TEST_F(SourceSetTest, DestructionStopsFirst) {
  config_.probes.syscalls = true;
  config_.probes.sockets = false;
  config_.probes.cuda = true;
  { SourceSet set = SourceSet::Start(Context(), Registrations()); }
  EXPECT_EQ(g_events,
            (std::vector<std::string>{"start syscalls", "start gpu", "stop gpu", "stop syscalls",
                                      "destroy gpu", "destroy syscalls"}));
}

// Every feature the daemon has is registered, each enabled by its own toggles only.
TEST(SourceRegistrationsTest, EveryFeatureIsRegisteredOnceAndFollowsItsToggles) {
  const auto& r = SourceRegistrations();
  ASSERT_EQ(r.size(), 4u);  // syscalls, sockets, profiling (oncpu/offcpu), gpu (cuda/cupti)
  ProbeToggles none;
  none.syscalls = none.sockets = none.tls = none.oncpu = none.offcpu = none.cuda = none.cupti =
      false;
  for (const auto& reg : r) EXPECT_FALSE(reg.enabled(none));
  auto enabled_by = [&](auto set) {
    ProbeToggles t = none;
    set(t);
    int n = 0;
    for (const auto& reg : r) n += reg.enabled(t);
    return n;
  };
  EXPECT_EQ(enabled_by([](ProbeToggles& t) { t.syscalls = true; }), 1);
  EXPECT_EQ(enabled_by([](ProbeToggles& t) { t.sockets = true; }), 1);
  EXPECT_EQ(enabled_by([](ProbeToggles& t) { t.oncpu = true; }), 1);
  EXPECT_EQ(enabled_by([](ProbeToggles& t) { t.offcpu = true; }), 1);
  EXPECT_EQ(enabled_by([](ProbeToggles& t) { t.cuda = true; }), 1);
  EXPECT_EQ(enabled_by([](ProbeToggles& t) { t.cupti = true; }), 1);
}

}  // namespace
}  // namespace zerotrace
