#include "core/process_alive.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace zerotrace {
namespace {

TEST(ProcessAliveTest, FollowsProc) {
  EXPECT_TRUE(ProcessAlive(static_cast<uint32_t>(getpid())));
  EXPECT_FALSE(ProcessAlive(4194303));
  EXPECT_FALSE(ProcessAlive(static_cast<uint32_t>(getpid()), "/nonexistent-proc-root"));
}

// An exited child its parent has not reaped yet still has a /proc entry: it is not alive.
TEST(ProcessAliveTest, AZombieIsNotAlive) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  // Wait until the kernel shows it as a zombie (state Z), without reaping it.
  const std::string stat = "/proc/" + std::to_string(child) + "/stat";
  bool zombie = false;
  for (int i = 0; i < 500 && !zombie; ++i) {
    std::ifstream f(stat);
    std::string line;
    std::getline(f, line);
    zombie = line.find(") Z ") != std::string::npos;
    if (!zombie) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(zombie);
  EXPECT_FALSE(ProcessAlive(static_cast<uint32_t>(child)));
  waitpid(child, nullptr, 0);
}

// A comm with spaces and parentheses does not confuse the state field.
TEST(ProcessAliveTest, ReadsTheStateAfterTheLastParenthesis) {
  const std::string root = ::testing::TempDir() + "/fake-proc";
  std::string cmd = "mkdir -p " + root + "/42 " + root + "/43";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ofstream(root + "/42/stat") << "42 (a) Z (b) S 1 2 3\n";
  std::ofstream(root + "/43/stat") << "43 (x) R) Z 1 2 3\n";
  EXPECT_TRUE(ProcessAlive(42, root));
  EXPECT_FALSE(ProcessAlive(43, root));
}

}  // namespace
}  // namespace zerotrace
