#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace zerotrace::testing {

// Why BPF tests cannot run here, or empty when they can (root and kernel BTF).
std::string BpfUnavailableReason();
bool InCi();
// The running kernel's release is at least major.minor (from uname, not from feature probes).
bool KernelAtLeast(int major, int minor);
// utime + stime of a live process, in seconds.
double CpuSeconds(uint32_t pid);
// Process `pid` holds a perf event (a profiler's sampling event, a uprobe): a kernel-side sign
// that it has started profiling, to wait on instead of its log.
bool HoldsPerfEvent(uint32_t pid);

// A test that cannot run here skips, naming why; under CI=true, where setup-deps.sh and root are
// given, the same reason is a failure: a test never goes quietly missing in CI.
#define ZT_SKIP_UNLESS_CI(reason)                                              \
  do {                                                                         \
    const std::string zt_skip_reason = (reason);                               \
    if (::zerotrace::testing::InCi()) FAIL() << "CI=true: " << zt_skip_reason; \
    GTEST_SKIP() << zt_skip_reason;                                            \
  } while (0)

// BPF tests: root and kernel BTF, or a skip (a failure in CI).
#define ZT_REQUIRE_BPF()                                                        \
  do {                                                                          \
    const std::string zt_reason = ::zerotrace::testing::BpfUnavailableReason(); \
    if (!zt_reason.empty()) ZT_SKIP_UNLESS_CI("BPF unavailable: " + zt_reason); \
  } while (0)

struct HttpResult {
  long status = 0;  // 0 when the request failed
  std::string body;
  std::string error;
};
HttpResult HttpGet(const std::string& url, long timeout_ms = 5000);

// One sample of Prometheus text exposition: name plus labels.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
std::vector<Sample> ParsePrometheusText(const std::string& text);
// Sum of the samples named `name` whose labels include all of `match` (0 when none).
double SumSamples(const std::vector<Sample>& samples, const std::string& name,
                  const std::map<std::string, std::string>& match);
bool HasSample(const std::vector<Sample>& samples, const std::string& name,
               const std::map<std::string, std::string>& match);

// A child process with a pipe to its stdin and one from its stdout; stderr goes to a file.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {},
        const std::string& stderr_path = "/dev/null");
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void WriteLine(const std::string& line);
  // Next line from the child's stdout, or nullopt on EOF/timeout.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  void CloseStdin();
  void Signal(int sig);
  // Exit status (as from waitpid) or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  bool reaped_ = false;
  int status_ = 0;
};

// The first line of a GPU test workload (tests/testprogs/cuda): "ready <pid> <hex address>",
// the address being the call site its test checks stacks against (leak or launch site).
struct ReadyWorkload {
  int pid = 0;
  unsigned long long site = 0;
};
// Reads that line; nullopt when none came within `timeout` or it did not parse (`*line` holds
// what came, for the failure message).
std::optional<ReadyWorkload> AwaitReady(Child& child, std::chrono::milliseconds timeout,
                                        std::string* line);

// Waits until `pred` holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

std::string ReadFileOrEmpty(const std::string& path);
std::string TempDir();

}  // namespace zerotrace::testing
