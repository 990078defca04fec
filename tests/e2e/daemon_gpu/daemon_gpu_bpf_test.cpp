// The CUDA driver path as a user meets it: `zerotrace run` finds libcuda in a process started
// after it, and `zerotrace attach --profile gpu` reports the leak. The fake libcuda.so.1 stands
// in for the driver (no GPU in CI); the workload makes a known sequence of driver calls.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <thread>

#include "collector.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

std::string Service() { return "zt-cuda-" + std::to_string(getpid()); }

TEST(DaemonGpuBpfTest, DriverUprobesFeedMetricsForAProcessStartedLater) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "cuda,cupti"});
  ASSERT_EQ(collector.WaitReady(), "");
  Child w({ZT_CUDA_WORKLOAD, ZT_FAKE_LIBCUDA}, {"OTEL_SERVICE_NAME=" + Service()});
  auto ready = w.ReadLine(std::chrono::seconds(10));
  ASSERT_TRUE(ready && ready->rfind("ready", 0) == 0) << (ready ? *ready : "no ready line");
  // Libraries are looked for every 5th interval (500 ms in tests); the gauge is set once the
  // uprobes are in.
  ASSERT_TRUE(WaitFor(
      [&] {
        return SumSamples(collector.Scrape(), "zerotrace_uprobe_targets", {{"probe", "cuda"}}) >= 1;
      },
      std::chrono::seconds(10)))
      << collector.Log();
  w.WriteLine("go");
  ASSERT_EQ(w.ReadLine(std::chrono::seconds(30)), "done");
  const std::map<std::string, std::string> svc{{"service_name", Service()}};
  auto launches = [&](const std::string& kernel) {
    auto labels = svc;
    labels["kernel"] = kernel;
    return SumSamples(collector.Scrape(), "zerotrace_gpu_kernel_launches_total", labels);
  };
  ASSERT_TRUE(WaitFor([&] { return launches("vecAdd") == 3 && launches("matMul") == 2; },
                      std::chrono::seconds(10)))
      << "vecAdd " << launches("vecAdd") << ", matMul " << launches("matMul");
  // The frees come after the launches: wait for them to be read too (the collector reads its
  // ring buffer between other work, such as describing a new process's files for the stack
  // walker), then check everything at once.
  WaitFor(
      [&] {
        return SumSamples(collector.Scrape(), "zerotrace_gpu_memory_allocated_bytes", svc) ==
               3 * 1024 * 1024;
      },
      std::chrono::seconds(10));
  const auto s = collector.Scrape();
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_memory_allocated_bytes", svc), 3 * 1024 * 1024);
  EXPECT_GT(SumSamples(s, "zerotrace_cuda_sync_wait_seconds_total", svc), 0.02);
  EXPECT_GT(SumSamples(s, "zerotrace_gpu_memcpy_bytes_total", svc), 0);
  w.CloseStdin();
}

TEST(DaemonGpuBpfTest, AttachProfileGpuReportsTheLeakAndWritesFiles) {
  ZT_REQUIRE_BPF();
  Child w({ZT_CUDA_WORKLOAD, ZT_FAKE_LIBCUDA});
  auto ready = w.ReadLine(std::chrono::seconds(10));
  ASSERT_TRUE(ready && ready->rfind("ready", 0) == 0);
  const std::string dir = TempDir();
  Child attach({ZT_BIN, "attach", "--pid", std::to_string(w.pid()), "--duration", "30s",
                "--profile", "gpu", "--out", dir, "--ready-file", dir + "/ready"},
               {}, dir + "/attach.log");
  ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(dir + "/ready").empty(); },
                      Collector::DefaultReadyTimeout()))  // attach loads the same probes as run
      << ReadFileOrEmpty(dir + "/attach.log");
  w.WriteLine("go");
  ASSERT_EQ(w.ReadLine(std::chrono::seconds(30)), "done");
  // No pause: on stop the GPU source reads what the kernel recorded.
  attach.Signal(SIGINT);
  std::string out;
  while (auto line = attach.ReadLine(std::chrono::seconds(10))) out += *line + "\n";
  auto status = attach.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << ReadFileOrEmpty(dir + "/attach.log");
  EXPECT_NE(out.find("3145728 bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("leaky_allocation_site"), std::string::npos) << out;
  for (const char* f : {"gpu.folded", "gpu.svg", "gpu.pb.gz", "gpu_trace.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  }
  w.CloseStdin();
}

}  // namespace
}  // namespace zerotrace::testing
