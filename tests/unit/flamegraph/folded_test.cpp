#include "flamegraph/folded.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "test_profiles.h"

namespace zerotrace::flamegraph {
namespace {

using testing::Gpu;
using testing::Jit;
using testing::Kernel;
using testing::Stack;
using testing::User;

TEST(FoldedWriterTest, WritesRootFirstSortedLines) {
  std::string text = FoldedWriter::ToString(testing::OnCpuProfile());
  EXPECT_EQ(text,
            "app;main;idle 10\n"
            "app;main;work;compute 60\n"
            "app;main;work;write;sys_write_[k] 30\n");
}

TEST(FoldedWriterTest, TruncatedMarkerFollowsProcess) {
  Profile p;
  p.samples.push_back(Stack("app", 1, {User("deep"), User("leaf")}, 3, /*truncated=*/true));
  EXPECT_EQ(FoldedWriter::ToString(p), "app;[truncated];deep;leaf 3\n");
}

TEST(FoldedWriterTest, KindsAndFallbackNames) {
  Frame unsymbolized;
  unsymbolized.module = "/usr/lib/libfoo.so";
  unsymbolized.module_offset = 0xbeef;
  unsymbolized.kind = FrameKind::kUser;
  Frame nothing;
  Profile p;
  p.type = ProfileType::kGpu;
  p.samples.push_back(
      Stack("trainer", 7, {Jit("PyEval"), unsymbolized, nothing, Gpu("sgemm_128")}, 1500));
  EXPECT_EQ(FoldedWriter::ToString(p),
            "trainer;PyEval_[j];/usr/lib/libfoo.so+0xbeef;[unknown];[gpu] sgemm_128 1500\n");
}

TEST(FoldedWriterTest, SanitisesSeparatorsAndNewlines) {
  EXPECT_EQ(SanitizeFoldedName("a;b\nc\rd\te"), "a:b c d e");
  EXPECT_EQ(SanitizeFoldedName(""), "[unknown]");
  Profile p;
  p.samples.push_back(Stack("we;ird\nproc", 1, {User("std::map<int; int>::find\n")}, 1));
  std::string text = FoldedWriter::ToString(p);
  EXPECT_EQ(text, "we:ird proc;std::map<int: int>::find  1\n");
  FoldedReadResult back = FoldedReader::ReadString(text);
  EXPECT_EQ(back.bad_lines, 0u);
  ASSERT_EQ(back.profile.samples.size(), 1u);
  EXPECT_EQ(back.profile.samples[0].frames.size(), 1u);
}

TEST(FoldedWriterTest, AggregatesLinesThatFoldTogether) {
  Profile p;
  p.samples.push_back(Stack("app", 1, {User("main")}, 2));
  p.samples.push_back(Stack("app", 2, {User("main")}, 3));  // other pid, same line
  p.samples.push_back(Stack("app", 2, {User("main")}, 0));  // zero: skipped
  EXPECT_EQ(FoldedWriter::ToString(p), "app;main 5\n");
}

TEST(FoldedRoundTripTest, WriteReadWriteIsStableAndRecoversKinds) {
  Frame unsymbolized;
  unsymbolized.module = "/usr/lib/libfoo.so";
  unsymbolized.module_offset = 0xbeef;
  unsymbolized.kind = FrameKind::kUser;
  Frame addr_only;
  addr_only.address = 0x7f0012345678;
  addr_only.kind = FrameKind::kUser;

  Profile p;
  p.type = ProfileType::kOffCpu;
  p.samples.push_back(Stack("svc", 1, {User("main"), User("poll"), Kernel("do_sys_poll")}, 1234));
  p.samples.push_back(Stack("svc", 1, {Jit("Lambda$1"), unsymbolized, addr_only}, 99, true));
  p.samples.push_back(Stack("gpu app", 1, {User("launch"), Gpu("my_kernel<float>")}, 5000));

  std::string text = FoldedWriter::ToString(p);
  FoldedReadResult r = FoldedReader::ReadString(text, ProfileType::kOffCpu);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.bad_lines, 0u);
  EXPECT_EQ(r.lines, 3u);
  EXPECT_EQ(r.profile.type, ProfileType::kOffCpu);
  EXPECT_EQ(FoldedWriter::ToString(r.profile), text);

  // Compare the semantic content sample by sample (writer sorts, so match by leaf).
  ASSERT_EQ(r.profile.samples.size(), 3u);
  for (const StackSample& got : r.profile.samples) {
    const StackSample* want = nullptr;
    for (const StackSample& s : p.samples) {
      if (FoldedWriter::StackLine(s) == FoldedWriter::StackLine(got)) want = &s;
    }
    ASSERT_NE(want, nullptr) << FoldedWriter::StackLine(got);
    EXPECT_EQ(got.process, want->process);
    EXPECT_EQ(got.value, want->value);
    EXPECT_EQ(got.truncated, want->truncated);
    ASSERT_EQ(got.frames.size(), want->frames.size());
    for (size_t i = 0; i < got.frames.size(); ++i) {
      EXPECT_EQ(got.frames[i].function, want->frames[i].function);
      EXPECT_EQ(got.frames[i].kind, want->frames[i].kind);
      if (want->frames[i].function.empty()) {
        EXPECT_EQ(got.frames[i].module, want->frames[i].module);
        EXPECT_EQ(got.frames[i].module_offset, want->frames[i].module_offset);
        EXPECT_EQ(got.frames[i].address, want->frames[i].address);
      }
    }
  }
}

TEST(FoldedReaderTest, ToleratesBadLines) {
  std::string text =
      "app;main;f 10\n"
      "\n"
      "no_value_here\n"
      "app;main;g notanumber\n"
      "app;;g 3\n"
      "app;main;g -4\n"
      "app;main;g 18446744073709551616\n"
      "app;main;h 7\r\n"
      "   \n"
      "solo 2\n";
  FoldedReadResult r = FoldedReader::ReadString(text);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.lines, 8u);
  EXPECT_EQ(r.bad_lines, 5u);
  ASSERT_EQ(r.errors.size(), 5u);
  EXPECT_NE(r.errors[0].find("line 3"), std::string::npos);
  ASSERT_EQ(r.profile.samples.size(), 3u);
  EXPECT_EQ(r.profile.samples[1].frames.back().function, "h");
  EXPECT_EQ(r.profile.samples[1].value, 7u);
  EXPECT_EQ(r.profile.samples[2].process, "solo");
  EXPECT_TRUE(r.profile.samples[2].frames.empty());
}

TEST(FoldedReaderTest, ParsesFrameDecorations) {
  Frame k = FoldedReader::ParseFrame("tcp_sendmsg_[k]");
  EXPECT_EQ(k.kind, FrameKind::kKernel);
  EXPECT_EQ(k.function, "tcp_sendmsg");
  Frame g = FoldedReader::ParseFrame("[gpu] gemm");
  EXPECT_EQ(g.kind, FrameKind::kGpu);
  EXPECT_EQ(g.function, "gemm");
  Frame m = FoldedReader::ParseFrame("/lib/x.so+0x10");
  EXPECT_EQ(m.module, "/lib/x.so");
  EXPECT_EQ(m.module_offset, 0x10u);
  EXPECT_TRUE(m.function.empty());
  Frame plus = FoldedReader::ParseFrame("operator+0xzz");
  EXPECT_EQ(plus.function, "operator+0xzz");
  Frame u = FoldedReader::ParseFrame("[unknown]");
  EXPECT_TRUE(u.function.empty());
  EXPECT_EQ(FrameName(u), "[unknown]");
}

TEST(FoldedFileTest, WriteFileAndReadFile) {
  std::string path = ::testing::TempDir() + "/zt_folded_" + std::to_string(getpid()) + ".txt";
  ASSERT_TRUE(FoldedWriter::WriteFile(testing::OnCpuProfile(), path));
  FoldedReadResult r = FoldedReader::ReadFile(path);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(TotalValue(r.profile), 100u);
  std::remove(path.c_str());

  FoldedReadResult missing = FoldedReader::ReadFile("/nonexistent/dir/x.folded");
  EXPECT_FALSE(missing.ok);
  EXPECT_FALSE(missing.error.empty());
  EXPECT_FALSE(FoldedWriter::WriteFile(testing::OnCpuProfile(), "/nonexistent/dir/x.folded"));
}

}  // namespace
}  // namespace zerotrace::flamegraph
