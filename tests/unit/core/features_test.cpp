#include <gtest/gtest.h>

#include <map>

#include "cli/probe_report.h"
#include "core/features.h"
#include "probes/syscall_probe.h"

namespace zerotrace {
namespace {

// A kernel described by a table, so each fallback is exercised without such a kernel.
class FakeProber : public FeatureProber {
 public:
  explicit FakeProber(std::map<Feature, bool> answers, int* calls = nullptr)
      : answers_(std::move(answers)), calls_(calls) {}
  FeatureAnswer Probe(Feature f) override {
    if (calls_) ++*calls_;
    auto it = answers_.find(f);
    bool yes = it != answers_.end() && it->second;
    return {yes, yes ? "fake yes" : "fake no"};
  }

 private:
  std::map<Feature, bool> answers_;
  int* calls_;
};

TEST(FeaturesTest, AnswersAreCached) {
  int calls = 0;
  Features f(std::make_unique<FakeProber>(std::map<Feature, bool>{{Feature::kBtf, true}}, &calls));
  EXPECT_TRUE(f.Has(Feature::kBtf));
  EXPECT_TRUE(f.Has(Feature::kBtf));
  EXPECT_FALSE(f.Has(Feature::kKprobe));
  EXPECT_EQ(calls, 2);
}

TEST(FeaturesTest, SyscallProbePrefersRawTracepoints) {
  Features f(std::make_unique<FakeProber>(
      std::map<Feature, bool>{{Feature::kRawTracepoint, true}, {Feature::kTracepoint, true}}));
  EXPECT_EQ(ChooseSyscallAttachMode(f), SyscallAttachMode::kRawTracepoint);
}

TEST(FeaturesTest, SyscallProbeFallsBackToTracepoints) {
  Features f(std::make_unique<FakeProber>(std::map<Feature, bool>{{Feature::kTracepoint, true}}));
  EXPECT_EQ(ChooseSyscallAttachMode(f), SyscallAttachMode::kTracepoint);
}

TEST(FeaturesTest, NoKprobesNoFentryIsFine) {
  Features f(std::make_unique<FakeProber>(std::map<Feature, bool>{
      {Feature::kRawTracepoint, true}, {Feature::kKprobe, false}, {Feature::kFentry, false}}));
  EXPECT_NE(ChooseSyscallAttachMode(f), SyscallAttachMode::kUnavailable);
}

TEST(FeaturesTest, NothingSupportedIsUnavailable) {
  Features f(std::make_unique<FakeProber>(std::map<Feature, bool>{}));
  EXPECT_EQ(ChooseSyscallAttachMode(f), SyscallAttachMode::kUnavailable);
}

TEST(FeaturesTest, ReportListsEveryFeatureAndProbe) {
  Features f(std::make_unique<FakeProber>(std::map<Feature, bool>{{Feature::kTracepoint, true}}));
  const std::string table = ProbeReportTable(f);
  for (int i = 0; i < static_cast<int>(Feature::kCount); ++i) {
    EXPECT_NE(table.find(FeatureName(static_cast<Feature>(i))), std::string::npos);
  }
  for (const char* probe : {"syscalls", "sockets", "tls", "oncpu", "offcpu", "cuda", "cupti"}) {
    EXPECT_NE(table.find(probe), std::string::npos) << probe;
  }
  const std::string json = ProbeReportJson(f);
  EXPECT_NE(json.find("\"tracepoint\""), std::string::npos);
}

}  // namespace
}  // namespace zerotrace
