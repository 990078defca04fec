// End to end: a real `zerotrace run` with real BPF programs observing a real process that makes
// an exact number of distinctive syscalls.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "collector.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

constexpr int kGetppid = 1000;
constexpr int kFailingOpenat = 500;
constexpr int kSleeps = 10;
constexpr int kSleepMs = 20;

std::string UniqueService(const char* what) {
  static std::atomic<int> n{0};
  return std::string("zt-e2e-") + what + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

struct Workload {
  explicit Workload(const std::string& service)
      : child({ZT_SYSCALL_WORKLOAD, std::to_string(kGetppid), std::to_string(kFailingOpenat),
               std::to_string(kSleeps), std::to_string(kSleepMs)},
              {"OTEL_SERVICE_NAME=" + service}) {}
  void Run() { ASSERT_EQ(child.ReadLine(std::chrono::seconds(10)), "ready"); }
  void Go() {
    child.WriteLine("go");
    ASSERT_EQ(child.ReadLine(std::chrono::seconds(30)), "done");
  }
  Child child;
};

double Value(const std::vector<Sample>& s, const std::string& name, const std::string& service,
             const std::string& syscall) {
  return SumSamples(s, name, {{"service_name", service}, {"syscall", syscall}});
}

TEST(SyscallsBpfTest, ExactCountsErrorsAndDurationsForOneProcess) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--bpf-stats", "true"});  // self-metrics of BPF run time below
  ASSERT_EQ(collector.WaitReady(), "");

  const std::string service = UniqueService("counts");
  Workload w(service);
  w.Run();
  // The baseline is taken once the process is named (its start-up syscalls under its service):
  // a collection made while it was still being exec'd could have counted them under another
  // name, and they would then show up in the delta (openat +3 once on 6.12 under TCG).
  std::vector<Sample> before;
  ASSERT_TRUE(WaitFor(
      [&] {
        before = collector.Scrape();
        return SumSamples(before, "zerotrace_syscalls_total", {{"service_name", service}}) > 0;
      },
      std::chrono::seconds(20)));
  w.Go();
  const auto after = collector.Scrape();

  auto delta = [&](const std::string& name, const std::string& sc) {
    return Value(after, name, service, sc) - Value(before, name, service, sc);
  };
  EXPECT_EQ(delta("zerotrace_syscalls_total", "getppid"), kGetppid);
  EXPECT_EQ(delta("zerotrace_syscall_errors_total", "getppid"), 0);
  EXPECT_EQ(delta("zerotrace_syscalls_total", "openat"), kFailingOpenat);
  EXPECT_EQ(delta("zerotrace_syscall_errors_total", "openat"), kFailingOpenat);
  EXPECT_EQ(delta("zerotrace_syscalls_total", "nanosleep"), kSleeps);
  EXPECT_EQ(delta("zerotrace_syscall_duration_seconds_count", "getppid"), kGetppid);

  // 10 sleeps of 20 ms: the histogram sum is at least 200 ms and not wildly more, and every
  // sleep lands in the (2^24, 2^26] ns bucket: none at or below 16.8 ms, all at or below 67 ms.
  const double sum = delta("zerotrace_syscall_duration_seconds_sum", "nanosleep");
  EXPECT_GE(sum, kSleeps * kSleepMs / 1000.0);
  EXPECT_LT(sum, kSleeps * kSleepMs / 1000.0 * 1.5);
  auto bucket = [&](const std::string& le) {
    return SumSamples(after, "zerotrace_syscall_duration_seconds_bucket",
                      {{"service_name", service}, {"syscall", "nanosleep"}, {"le", le}});
  };
  EXPECT_EQ(bucket("0.016777216"), 0);
  EXPECT_EQ(bucket("0.067108864"), kSleeps);
  EXPECT_EQ(bucket("+Inf"), kSleeps);

  // Self-metrics reflect the work.
  EXPECT_GT(SumSamples(after, "zerotrace_bpf_prog_runs_total", {}), 2 * kGetppid);
  EXPECT_GT(SumSamples(after, "zerotrace_bpf_prog_run_seconds_total", {}), 0);
  EXPECT_TRUE(HasSample(after, "zerotrace_events_lost_total", {{"probe", "syscalls"}}));
  EXPECT_GE(SumSamples(after, "zerotrace_events_total", {{"probe", "syscalls"}}),
            kGetppid + kFailingOpenat + kSleeps);
  EXPECT_GT(SumSamples(after, "process_resident_memory_bytes", {}), 0);
  EXPECT_TRUE(HasSample(after, "process_cpu_seconds_total", {}));
  EXPECT_EQ(SumSamples(after, "zerotrace_build_info", {}), 1);
  EXPECT_EQ(SumSamples(after, "zerotrace_probe_attached", {{"probe", "syscalls"}}), 1);
  w.child.CloseStdin();
  EXPECT_TRUE(w.child.Wait(std::chrono::seconds(5)).has_value());
}

TEST(SyscallsBpfTest, CountersStayMonotonicAfterTheProcessExits) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string service = UniqueService("exit");
  {
    Workload w(service);
    w.Run();
    w.Go();
    // The service name is read from /proc while the process lives (a process that lives shorter
    // than one interval is named by its comm instead).
    ASSERT_TRUE(WaitFor(
        [&] {
          return Value(collector.Scrape(), "zerotrace_syscalls_total", service, "getppid") ==
                 kGetppid;
        },
        std::chrono::seconds(5)));
    w.child.CloseStdin();
    ASSERT_TRUE(w.child.Wait(std::chrono::seconds(5)).has_value());
  }
  // Each scrape is a collection: the first after the exit reads the process's entries one last
  // time and deletes them from the kernel map; the exported counters stay and do not change in
  // the collections after it.
  const auto first = collector.Scrape();
  collector.Scrape();
  const auto second = collector.Scrape();
  EXPECT_EQ(Value(first, "zerotrace_syscalls_total", service, "getppid"), kGetppid);
  EXPECT_EQ(Value(second, "zerotrace_syscalls_total", service, "getppid"), kGetppid);
  EXPECT_EQ(Value(second, "zerotrace_syscall_errors_total", service, "openat"), kFailingOpenat);
}

TEST(SyscallsBpfTest, PidSelectionIsEnforcedInTheKernel) {
  ZT_REQUIRE_BPF();
  const std::string traced_service = UniqueService("traced");
  const std::string other_service = UniqueService("untraced");
  Workload traced(traced_service), other(other_service);
  traced.Run();
  other.Run();
  Collector collector(ZT_BIN, {"--pid", std::to_string(traced.child.pid())});
  ASSERT_EQ(collector.WaitReady(), "");
  traced.Go();
  other.Go();
  const auto after = collector.Scrape();
  EXPECT_EQ(Value(after, "zerotrace_syscalls_total", traced_service, "getppid"), kGetppid);
  EXPECT_FALSE(HasSample(after, "zerotrace_syscalls_total", {{"service_name", other_service}}));
  // Untraced processes (the test itself, curl inside it) never show up either.
  for (const auto& s : after) {
    if (s.name == "zerotrace_syscalls_total") {
      EXPECT_EQ(s.labels.at("service_name"), traced_service);
    }
  }
}

TEST(SyscallsBpfTest, CommSelectionTracesMatchingProcessesOnly) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--comm", "syscall_workloa"});  // the kernel truncates to 15
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string service = UniqueService("comm");
  Workload w(service);
  w.Run();
  w.Go();
  const auto after = collector.Scrape();
  EXPECT_EQ(Value(after, "zerotrace_syscalls_total", service, "getppid"), kGetppid);
  for (const auto& s : after) {
    if (s.name == "zerotrace_syscalls_total") {
      EXPECT_EQ(s.labels.at("service_name").rfind("zt-e2e-", 0), 0u) << s.labels.at("service_name");
    }
  }
}

TEST(SyscallsBpfTest, MemoryFollowsLiveProcessesNotPidChurn) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--comm", "true"});
  ASSERT_EQ(collector.WaitReady(), "");
  constexpr int kProcesses = 200;
  for (int i = 0; i < kProcesses; ++i) {
    Child c({"/bin/true"});
    ASSERT_TRUE(c.Wait(std::chrono::seconds(5)).has_value());
  }
  // Every one of them made syscalls that were counted...
  EXPECT_TRUE(WaitFor(
      [&] {
        return SumSamples(collector.Scrape(), "zerotrace_syscalls_total",
                          {{"service_name", "true"}}) >= kProcesses * 5;
      },
      std::chrono::seconds(5)));
  // ...and once they are gone, no kernel map entry of theirs is left behind.
  EXPECT_TRUE(WaitFor(
      [&] { return SumSamples(collector.Scrape(), "zerotrace_syscall_map_entries", {}) == 0; },
      std::chrono::seconds(5)))
      << "map entries: " << SumSamples(collector.Scrape(), "zerotrace_syscall_map_entries", {});
}

TEST(SyscallsBpfTest, HealthReadyAndCleanShutdown) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {});
  ASSERT_EQ(collector.WaitReady(), "");
  auto health = HttpGet(collector.Url("/health"));
  ASSERT_EQ(health.status, 200);
  auto h = nlohmann::json::parse(health.body);
  EXPECT_EQ(h["status"], "ok");
  EXPECT_GE(h["uptime_seconds"].get<double>(), 0.0);
  EXPECT_FALSE(h["version"].get<std::string>().empty());

  auto ready = HttpGet(collector.Url("/ready"));
  ASSERT_EQ(ready.status, 200);
  auto r = nlohmann::json::parse(ready.body);
  EXPECT_TRUE(r["ready"].get<bool>());
  EXPECT_EQ(r["probes"]["syscalls"]["state"], "attached");
  std::vector<int> ids = r["probes"]["syscalls"]["program_ids"].get<std::vector<int>>();
  ASSERT_EQ(ids.size(), 2u);  // sys_enter + sys_exit, one variant only
  auto loaded = [](int id) {
    return std::system(
               ("bpftool prog show id " + std::to_string(id) + " >/dev/null 2>&1").c_str()) == 0;
  };
  for (int id : ids) EXPECT_TRUE(loaded(id)) << "program " << id << " not visible in bpftool";

  const auto start = std::chrono::steady_clock::now();
  collector.process().Signal(SIGTERM);
  auto status = collector.process().Wait(std::chrono::seconds(2));
  ASSERT_TRUE(status.has_value()) << "zerotrace did not exit within 2 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  // Programs are freed once their last reference goes; give the kernel a moment (RCU).
  EXPECT_TRUE(WaitFor([&] { return !loaded(ids[0]) && !loaded(ids[1]); }, std::chrono::seconds(3)))
      << "a zerotrace BPF program is still loaded after exit";
}

}  // namespace
}  // namespace zerotrace::testing
