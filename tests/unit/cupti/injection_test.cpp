// InitializeInjection on a machine with no GPU and no driver: it must return, print one clear
// line, and leave the application running (CUDA_INJECTION64_PATH contract).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace zerotrace::testing {
namespace {

using std::chrono::seconds;

bool HaveNvidiaDriver() { return access("/proc/driver/nvidia/version", F_OK) == 0; }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

void ExpectOneStepAsideLine(const std::string& stderr_text) {
  if (HaveNvidiaDriver()) return;  // with a driver CUPTI may well start: nothing to step aside for
  const auto lines = Lines(stderr_text);
  int ours = 0;
  for (const auto& l : lines) {
    if (l.rfind("zerotrace-cupti:", 0) == 0) {
      ++ours;
      EXPECT_NE(l.find("the application continues"), std::string::npos) << l;
    }
  }
  EXPECT_EQ(ours, 1) << stderr_text;
}

TEST(CuptiInjection, NoDriverReturnsCleanlyWithOneLine) {
  const std::string err = TempDir() + "/injection_host.err";
  Child child({ZT_INJECTION_HOST}, {"CUDA_INJECTION64_PATH=" ZT_CUPTI_LIBRARY}, err);
  auto line = child.ReadLine(std::chrono::milliseconds(20000));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "rc=1 rc2=1");
  auto status = child.Wait(std::chrono::milliseconds(20000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  ExpectOneStepAsideLine(ReadFileOrEmpty(err));
}

TEST(CuptiInjection, BadEnvironmentDoesNotBreakTheApplication) {
  const std::string err = TempDir() + "/injection_host_env.err";
  Child child({ZT_INJECTION_HOST},
              {"CUDA_INJECTION64_PATH=" ZT_CUPTI_LIBRARY,
               "ZEROTRACE_CUPTI_MAX_RECORDS_PER_SEC=lots", "ZEROTRACE_CUPTI_POLL_MS=x"},
              err);
  auto line = child.ReadLine(std::chrono::milliseconds(20000));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(*line, "rc=1 rc2=1");
  auto status = child.Wait(std::chrono::milliseconds(20000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

// The fake driver loads the injector from cuInit like the real one; the workload must finish.
TEST(CuptiInjection, LoadedFromCuInitTheWorkloadRunsOn) {
  const std::string err = TempDir() + "/cuda_workload_inject.err";
  Child child({ZT_CUDA_WORKLOAD},
              {"CUDA_INJECTION64_PATH=" ZT_CUPTI_LIBRARY, "ZT_FAKE_CUDA_INJECT=1",
               "ZT_FAKE_CUDA_SYNC_MS=1"},
              err);
  auto ready = child.ReadLine(std::chrono::milliseconds(20000));
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->rfind("ready ", 0), 0u);
  child.WriteLine("go");
  auto done = child.ReadLine(std::chrono::milliseconds(20000));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(*done, "done");
  child.CloseStdin();
  auto status = child.Wait(std::chrono::milliseconds(20000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  ExpectOneStepAsideLine(ReadFileOrEmpty(err));
}

}  // namespace
}  // namespace zerotrace::testing
