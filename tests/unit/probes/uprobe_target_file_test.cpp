#include "probes/uprobe_target_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace zerotrace {
namespace {

namespace fs = std::filesystem;

// The scanners hand over PROC/PID/root/<path as mapped>; a container may have made that path a
// link to a host file. The uprobe must go on the container's file or nowhere.
TEST(UprobeTargetFileTest, NamesTheCheckedFileByItsDescriptor) {
  const fs::path base = fs::path(testing::TempDir()) / "uprobe_target";
  fs::remove_all(base);
  const fs::path root = base / "proc/4242/root";
  fs::create_directories(root / "usr/lib");
  fs::create_directories(base / "host");
  std::ofstream(root / "usr/lib/libssl.so.3") << "container library";
  std::ofstream(base / "host/libc.so.6") << "host library";
  fs::create_symlink(base / "host/libc.so.6", root / "usr/lib/libevil.so");

  auto target = UprobeTargetFile::Open((root / "usr/lib/libssl.so.3").string());
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->attach_path().rfind("/proc/self/fd/", 0), 0u) << target->attach_path();
  struct stat by_fd {
  }, real{};
  ASSERT_EQ(stat(target->attach_path().c_str(), &by_fd), 0);
  ASSERT_EQ(stat((root / "usr/lib/libssl.so.3").c_str(), &real), 0);
  EXPECT_EQ(by_fd.st_ino, real.st_ino);

  // The link resolves inside the root (where no such host path exists), never to the host file.
  EXPECT_FALSE(UprobeTargetFile::Open((root / "usr/lib/libevil.so").string()).has_value());
  fs::remove_all(base);
}

}  // namespace
}  // namespace zerotrace
