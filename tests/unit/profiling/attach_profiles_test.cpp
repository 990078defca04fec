#include "profiling/attach_profiles.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace zerotrace::profiling {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/zt-attach-XXXXXX";
  return mkdtemp(tmpl);
}

TEST(AttachProfilesTest, CreatesTheOutputDirectory) {
  const std::string dir = TempDir() + "/a/b";
  EXPECT_TRUE(EnsureWritableDirectory(dir).ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_TRUE(std::filesystem::is_empty(dir));  // the probe file is gone
}

TEST(AttachProfilesTest, UnwritableOutputIsAClearError) {
  const std::string file = TempDir() + "/plain-file";
  std::ofstream(file) << "x";
  auto s = EnsureWritableDirectory(file + "/sub");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--out " + file + "/sub"), std::string::npos) << s.message();
  EXPECT_FALSE(EnsureWritableDirectory(file).ok());  // exists, not a directory
  EXPECT_FALSE(EnsureWritableDirectory("").ok());
}

TEST(AttachProfilesTest, MissingPidFailsBeforeAnythingIsLoaded) {
  AttachProfilesOptions o;
  o.pids = {4194303};
  o.out_dir = TempDir();
  auto r = RunAttachProfiles(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "no such process: 4194303");
}

TEST(AttachProfilesTest, UnwritableOutFailsBeforeThePidCheck) {
  AttachProfilesOptions o;
  o.pids = {4194303};
  o.out_dir = "/proc/version/out";
  auto r = RunAttachProfiles(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("--out /proc/version/out"), std::string::npos);
}

profile::Frame Fn(const std::string& name, profile::FrameKind kind = profile::FrameKind::kUser) {
  profile::Frame f;
  f.function = name;
  f.kind = kind;
  return f;
}

TEST(AttachProfilesTest, SummaryListsTopFunctionsBySelfAndTotal) {
  profile::Profile p;
  p.type = profile::ProfileType::kOnCpu;
  p.period_ns = 1000000000 / 49;
  p.samples.push_back({"app", 1, {Fn("main"), Fn("hot")}, 90, false});
  p.samples.push_back(
      {"app", 1, {Fn("main"), Fn("read"), Fn("vfs_read", profile::FrameKind::kKernel)}, 10, false});
  const std::string s = FormatTopFunctions(p, 15);
  EXPECT_NE(s.find("100 samples"), std::string::npos) << s;
  EXPECT_NE(s.find("Top 15 functions by self"), std::string::npos) << s;
  EXPECT_NE(s.find("Top 15 functions by total"), std::string::npos) << s;
  EXPECT_NE(s.find(" 90.0%  hot"), std::string::npos) << s;
  EXPECT_NE(s.find("vfs_read [k]"), std::string::npos) << s;
  EXPECT_LT(s.find("hot"), s.find("vfs_read")) << s;

  profile::Profile off;
  off.type = profile::ProfileType::kOffCpu;
  off.samples.push_back({"app", 1, {Fn("main"), Fn("sleep")}, 1500000000, false});
  EXPECT_NE(FormatTopFunctions(off, 5).find("1.500s"), std::string::npos)
      << FormatTopFunctions(off, 5);
  EXPECT_NE(FormatTopFunctions({}, 5).find("nothing captured"), std::string::npos);
}

}  // namespace
}  // namespace zerotrace::profiling
