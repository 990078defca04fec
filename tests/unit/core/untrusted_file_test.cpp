#include "core/untrusted_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "symbolizer/elf_symbols.h"
#include "symbolizer/perf_map.h"
#include "tests/support/test_util.h"

namespace zerotrace {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string ReadFd(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// A container's root with files and links a hostile workload could plant, and a host file
// outside it that none of them may reach.
class UntrustedFileTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    zerotrace::testing::ForceWithoutOpenat2(!GetParam());
    base_ = fs::path(::zerotrace::testing::TempDir()) / "untrusted";
    fs::remove_all(base_);
    root_ = base_ / "root";
    host_secret_ = base_ / "host" / "secret";
    WriteFile(host_secret_, "host secret\n");
    WriteFile(root_ / "usr/lib/real.so", "container file\n");
    fs::create_symlink(host_secret_, root_ / "usr/lib/absolute_out.so");
    fs::create_symlink("../../../../../../../../" + host_secret_.relative_path().string(),
                       root_ / "usr/lib/dotdot_out.so");
    fs::create_symlink("/usr/lib/real.so", root_ / "usr/lib/inside.so");
  }
  void TearDown() override {
    zerotrace::testing::ForceWithoutOpenat2(false);
    fs::remove_all(base_);
  }
  FileLocation In(const std::string& path) const { return {root_.string(), path}; }
  static UntrustedOpenOptions Small() { return {.max_bytes = 1 << 20}; }

  fs::path base_, root_, host_secret_;
};

TEST_P(UntrustedFileTest, ReadsARegularFileInsideTheRoot) {
  const int fd = OpenUntrustedFile(In("/usr/lib/real.so"), Small());
  ASSERT_GE(fd, 0) << std::strerror(errno);
  EXPECT_EQ(ReadFd(fd), "container file\n");
}

TEST_P(UntrustedFileTest, LinksNeverLeaveTheRoot) {
  for (const char* path : {"/usr/lib/absolute_out.so", "/usr/lib/dotdot_out.so",
                           "/../../../../../../../../../../../../../"}) {
    const int fd = OpenUntrustedFile(In(path), Small());
    EXPECT_LT(fd, 0) << path;
    if (fd >= 0) close(fd);
  }
  // The host path itself, named as if inside the container, is not found there either.
  const int fd = OpenUntrustedFile(In(host_secret_.string()), Small());
  EXPECT_LT(fd, 0);
  if (fd >= 0) close(fd);
}

TEST_P(UntrustedFileTest, AnAbsoluteLinkInsideTheRootResolvesThereOrIsRefused) {
  const uint64_t unsafe = UntrustedFilesRefused(FileRefusal::kUnsafePath);
  const int fd = OpenUntrustedFile(In("/usr/lib/inside.so"), Small());
  if (GetParam()) {
    // openat2 resolves "/usr/lib/real.so" against the container's root, as the process did.
    ASSERT_GE(fd, 0) << std::strerror(errno);
    EXPECT_EQ(ReadFd(fd), "container file\n");
  } else {
    // Without openat2 no link is followed: refused and counted.
    EXPECT_LT(fd, 0);
    EXPECT_EQ(UntrustedFilesRefused(FileRefusal::kUnsafePath), unsafe + 1);
  }
}

TEST_P(UntrustedFileTest, AFifoIsRefusedAtOnce) {
  ASSERT_EQ(mkfifo((root_ / "usr/lib/fifo.so").c_str(), 0600), 0);
  const uint64_t before = UntrustedFilesRefused(FileRefusal::kNotRegular);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_LT(OpenUntrustedFile(In("/usr/lib/fifo.so"), Small()), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // no writer
  EXPECT_LT(OpenUntrustedFile(In("/usr/lib"), Small()), 0);
  EXPECT_EQ(UntrustedFilesRefused(FileRefusal::kNotRegular), before + 2);
}

TEST_P(UntrustedFileTest, AFileOverTheBoundIsRefused) {
  // 10 GiB, sparse: nothing is written.
  const fs::path big = root_ / "tmp/perf-1.map";
  WriteFile(big, "");
  fs::resize_file(big, 10ull << 30);
  const uint64_t before = UntrustedFilesRefused(FileRefusal::kTooLarge);
  EXPECT_LT(OpenUntrustedFile(In("/tmp/perf-1.map"), Small()), 0);
  EXPECT_EQ(errno, EFBIG);
  EXPECT_EQ(UntrustedFilesRefused(FileRefusal::kTooLarge), before + 1);
  // The perf map reader applies its own bound and reads nothing.
  EXPECT_TRUE(symbolizer::PerfMapParser::ReadFile(big.string()).empty());
  EXPECT_EQ(UntrustedFilesRefused(FileRefusal::kTooLarge), before + 2);
}

TEST_P(UntrustedFileTest, APerfMapThatIsALinkIsRefused) {
  WriteFile(root_ / "tmp/real.map", "1000 10 jitted_function\n");
  fs::create_symlink(root_ / "tmp/real.map", root_ / "tmp/perf-2.map");
  EXPECT_FALSE(symbolizer::PerfMapParser::ReadFile((root_ / "tmp/real.map").string()).empty());
  const uint64_t before = UntrustedFilesRefused(FileRefusal::kUnsafePath);
  EXPECT_TRUE(symbolizer::PerfMapParser::ReadFile((root_ / "tmp/perf-2.map").string()).empty());
  EXPECT_EQ(UntrustedFilesRefused(FileRefusal::kUnsafePath), before + 1);
}

TEST_P(UntrustedFileTest, TheSymbolizerDoesNotFollowAContainerLinkToAHostBinary) {
  // A host ELF with symbols (this test program) that a container links to by absolute path.
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  fs::create_symlink(self, root_ / "usr/lib/evil.so");
  EXPECT_GT(symbolizer::ElfSymbols::Load({"", self}, {}).size(), 0u);
  EXPECT_EQ(symbolizer::ElfSymbols::Load(In("/usr/lib/evil.so"), {}).size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Openat2, UntrustedFileTest, ::testing::Values(true, false),
                         [](const auto& info) {
                           return info.param ? std::string("Openat2") : std::string("Walk");
                         });

TEST(SplitProcessRootTest, SplitsTheProcessRootOff) {
  EXPECT_EQ(SplitProcessRoot("/proc/123/root/usr/lib/libssl.so.3"),
            (FileLocation{"/proc/123/root", "/usr/lib/libssl.so.3"}));
  EXPECT_EQ(SplitProcessRoot("/host/proc/7/root/lib/x.so"),
            (FileLocation{"/host/proc/7/root", "/lib/x.so"}));
  // The first one is the process's; a later one is a path inside the container.
  EXPECT_EQ(SplitProcessRoot("/proc/9/root/srv/42/root/x"),
            (FileLocation{"/proc/9/root", "/srv/42/root/x"}));
  EXPECT_EQ(SplitProcessRoot("/usr/lib/x.so"), (FileLocation{"", "/usr/lib/x.so"}));
  EXPECT_EQ(SplitProcessRoot("/root/x"), (FileLocation{"", "/root/x"}));
  EXPECT_EQ(SplitProcessRoot("/proc/root/x"), (FileLocation{"", "/proc/root/x"}));
}

}  // namespace
}  // namespace zerotrace
