#include "probes/libssl_scanner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace zerotrace {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// A fake /proc: <root>/<pid>/maps with the given lines.
class FakeProc {
 public:
  FakeProc() : root_(fs::temp_directory_path() / ("zt-libssl-" + std::to_string(getpid()))) {
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  ~FakeProc() { fs::remove_all(root_); }
  void AddProcess(uint32_t pid, const std::string& maps) {
    fs::create_directories(root_ / std::to_string(pid));
    std::ofstream(root_ / std::to_string(pid) / "maps") << maps;
  }
  std::string root() const { return root_.string(); }

 private:
  fs::path root_;
};

const char* kNginxMaps =
    "55d0c000-55d0d000 r--p 00000000 fe:01 1311 /usr/sbin/nginx\n"
    "7f10a000-7f10b000 r--p 00000000 fe:01 2222 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
    "7f10b000-7f10c000 r-xp 00001000 fe:01 2222 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
    "7f20a000-7f20b000 r--p 00000000 fe:01 3333 /usr/lib/x86_64-linux-gnu/libcrypto.so.3\n"
    "7ffd0000-7ffd1000 rw-p 00000000 00:00 0 [stack]\n";

TEST(LibsslScannerTest, FindsEachLibsslFileOnceThroughTheProcessRoot) {
  FakeProc proc;
  proc.AddProcess(100, kNginxMaps);
  proc.AddProcess(200, kNginxMaps);  // the same file (dev:inode) in a second process
  proc.AddProcess(300, "7f00-7f01 r-xp 00000000 00:2a 99 /opt/app/lib/libssl.so.1.1\n");
  proc.AddProcess(400, "7f00-7f01 r-xp 00000000 fe:01 5 /usr/lib/libsslx.so\n");  // not libssl
  LibsslScanner scanner(proc.root());
  const auto all = scanner.All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all.at("fe:01:2222"), proc.root() + "/100/root/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(all.at("00:2a:99"), proc.root() + "/300/root/opt/app/lib/libssl.so.1.1");
  EXPECT_EQ(scanner.Of(300).size(), 1u);
  EXPECT_TRUE(scanner.Of(400).empty());
  EXPECT_TRUE(scanner.Of(999).empty());  // a process that is gone
}

TEST(LibsslScannerTest, MissingProcRootFindsNothing) {
  LibsslScanner scanner("/nonexistent-proc-zt");
  EXPECT_TRUE(scanner.All().empty());
  EXPECT_TRUE(scanner.Of(1).empty());
}

TEST(LibsslScannerTest, QueuedScansComeDueAfterTheirDelay) {
  LibsslScanner scanner("/proc");
  const auto t0 = LibsslScanner::Clock::now();
  scanner.Queue(1, milliseconds(20), t0);
  scanner.Queue(2, milliseconds(500), t0);
  scanner.Queue(3, milliseconds(0), t0);
  EXPECT_EQ(scanner.TakeDue(t0), (std::vector<uint32_t>{3}));
  EXPECT_EQ(scanner.TakeDue(t0 + milliseconds(25)), (std::vector<uint32_t>{1}));
  EXPECT_TRUE(scanner.TakeDue(t0 + milliseconds(100)).empty());
  EXPECT_EQ(scanner.TakeDue(t0 + milliseconds(500)), (std::vector<uint32_t>{2}));
  EXPECT_EQ(scanner.pending(), 0u);
}

TEST(LibsslScannerTest, FirstSeenQueuesEachProcessOnce) {
  LibsslScanner scanner("/proc");
  const auto t0 = LibsslScanner::Clock::now();
  scanner.QueueFirstSeen(7, t0);
  scanner.QueueFirstSeen(7, t0);
  scanner.QueueFirstSeen(8, t0);
  EXPECT_EQ(scanner.TakeDue(t0), (std::vector<uint32_t>{7, 8}));
}

TEST(LibsslScannerTest, ScansPerSecondAreBudgetedAndTheRestWait) {
  LibsslScanner scanner("/proc");
  const auto t0 = LibsslScanner::Clock::now();
  const int n = LibsslScanner::kScansPerSecond + 50;
  for (int i = 0; i < n; ++i) scanner.Queue(static_cast<uint32_t>(i + 1), milliseconds(0), t0);
  EXPECT_EQ(scanner.TakeDue(t0).size(), static_cast<size_t>(LibsslScanner::kScansPerSecond));
  EXPECT_TRUE(scanner.TakeDue(t0 + milliseconds(500)).empty());  // budget spent this second
  EXPECT_EQ(scanner.pending(), 50u);
  EXPECT_EQ(scanner.TakeDue(t0 + milliseconds(1000)).size(), 50u);  // a new second
}

TEST(LibsslScannerTest, QueueIsBounded) {
  LibsslScanner scanner("/proc");
  const auto t0 = LibsslScanner::Clock::now();
  for (size_t i = 0; i < LibsslScanner::kMaxPending + 100; ++i) {
    scanner.Queue(static_cast<uint32_t>(i), milliseconds(10), t0);
  }
  EXPECT_EQ(scanner.pending(), LibsslScanner::kMaxPending);
}

}  // namespace
}  // namespace zerotrace
