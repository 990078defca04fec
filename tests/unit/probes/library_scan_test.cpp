#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "probes/library_scan.h"
#include "test_util.h"

namespace zerotrace::gpu {
namespace {

namespace fs = std::filesystem;

TEST(LibraryScan, Matchers) {
  EXPECT_TRUE(IsLibcudaPath("/usr/lib/x86_64-linux-gnu/libcuda.so.1"));
  EXPECT_TRUE(IsLibcudaPath("/opt/x/libcuda.so"));
  EXPECT_FALSE(IsLibcudaPath("/usr/lib/libcudart.so.12"));
  EXPECT_FALSE(IsLibcudaPath("/usr/lib/libcuda.so.1.bak"));
  EXPECT_TRUE(IsCuptiInjectorPath("/usr/lib/zerotrace/libzerotrace_cupti.so"));
  EXPECT_FALSE(IsCuptiInjectorPath("/libzerotrace_cupti/libfoo.so"));
}

// A fake /proc: two processes map the same library (one via a path that only exists through
// its root), one maps a non-executable copy, one maps nothing of interest.
TEST(LibraryScan, FindsExecutableMappingsOncePerFile) {
  const fs::path root = fs::path(testing::TempDir()) / "gpu_scan_proc";
  fs::remove_all(root);
  const fs::path lib_dir = root / "libs";
  fs::create_directories(lib_dir);
  const fs::path lib = lib_dir / "libcuda.so.1";
  std::ofstream(lib) << "not really ELF";
  auto write_maps = [&](int pid, const std::string& content) {
    fs::create_directories(root / std::to_string(pid));
    std::ofstream(root / std::to_string(pid) / "maps") << content;
  };
  const std::string exec_line =
      "7f0000000000-7f0000001000 r-xp 00000000 08:01 1234 " + lib.string() + "\n";
  const std::string data_line =
      "7f0000001000-7f0000002000 r--p 00001000 08:01 1234 " + lib.string() + "\n";
  write_maps(10, data_line + exec_line + exec_line);
  write_maps(11, exec_line);
  write_maps(12, data_line);
  write_maps(13, "7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /usr/lib/libc.so.6\n");
  auto found = ScanMappedLibraries(root.string(), {}, IsLibcudaPath);
  ASSERT_EQ(found.size(), 1u);
  const MappedLibrary& m = found.begin()->second;
  EXPECT_EQ(m.pids, (std::set<uint32_t>{10, 11}));
  EXPECT_EQ(m.mapped_path, lib.string());
  struct stat st;
  ASSERT_EQ(stat(m.path.c_str(), &st), 0);
  // Only the listed pids.
  auto only = ScanMappedLibraries(root.string(), {11}, IsLibcudaPath);
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only.begin()->second.pids, (std::set<uint32_t>{11}));
  EXPECT_TRUE(ScanMappedLibraries(root.string(), {12, 13, 99}, IsLibcudaPath).empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace zerotrace::gpu

namespace zerotrace::gpu {
namespace {

TEST(LibraryScan, DefinedFunctions) {
  const auto self = DefinedFunctions("/proc/self/exe");
  EXPECT_TRUE(self.count("main"));
  EXPECT_FALSE(self.count("cuLaunchKernel_ptsz"));
  EXPECT_TRUE(DefinedFunctions("/nonexistent").empty());
}

}  // namespace
}  // namespace zerotrace::gpu
