// The profiling features as a user reaches them through the CLI and the daemon: /flamegraph,
// the per-service counters, `attach --profile` and `zerotrace flamegraph`.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "collector.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

std::string Service() { return "zt-burn-" + std::to_string(getpid()); }

bool ValidXml(const std::string& path) {
  return std::system(("/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; "
                      "E.parse(sys.argv[1])' " +
                      path + " 2>/dev/null")
                         .c_str()) == 0;
}

TEST(DaemonProfilingBpfTest, FlamegraphEndpointAndCounters) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "oncpu,offcpu"});
  ASSERT_EQ(collector.WaitReady(), "");
  Child burn({ZT_BURN_CPU, "0"}, {"OTEL_SERVICE_NAME=" + Service()});
  ASSERT_EQ(burn.ReadLine(std::chrono::seconds(10)), "ready");
  const std::string pid = std::to_string(burn.pid());

  auto folded =
      HttpGet(collector.Url("/flamegraph?type=oncpu&seconds=2&format=folded&pid=" + pid), 20000);
  ASSERT_EQ(folded.status, 200) << folded.body;
  EXPECT_NE(folded.body.find("burn_cpu_for_test"), std::string::npos) << folded.body;
  // Only the requested process: every stack's root is its service.
  std::istringstream lines(folded.body);
  std::string line;
  while (std::getline(lines, line)) EXPECT_EQ(line.rfind(Service() + ";", 0), 0u) << line;

  auto svg = HttpGet(collector.Url("/flamegraph?type=oncpu&seconds=1&pid=" + pid), 20000);
  ASSERT_EQ(svg.status, 200);
  EXPECT_NE(svg.body.find("<svg"), std::string::npos);
  EXPECT_NE(svg.body.find("burn_cpu_for_test"), std::string::npos);
  const std::string svg_path = TempDir() + "/oncpu.svg";
  std::ofstream(svg_path) << svg.body;
  EXPECT_TRUE(ValidXml(svg_path));

  auto pprof = HttpGet(collector.Url("/flamegraph?type=offcpu&seconds=1&format=pprof"), 20000);
  ASSERT_EQ(pprof.status, 200);
  ASSERT_GE(pprof.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(pprof.body[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(pprof.body[1]), 0x8b);

  EXPECT_EQ(HttpGet(collector.Url("/flamegraph?type=teleport&seconds=1")).status, 400);
  EXPECT_EQ(HttpGet(collector.Url("/flamegraph?seconds=0")).status, 400);
  // Bad requests are answered before recording (the 5 s client timeout is far below 60 s).
  EXPECT_EQ(HttpGet(collector.Url("/flamegraph?seconds=60&format=bogus"), 5000).status, 400);
  EXPECT_EQ(HttpGet(collector.Url("/flamegraph?seconds=4294967301"), 5000).status, 400);
  EXPECT_EQ(HttpGet(collector.Url("/flamegraph?seconds=60&pid=1abc"), 5000).status, 400);
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  auto dead = HttpGet(collector.Url("/flamegraph?seconds=60&pid=" + std::to_string(gone)), 5000);
  EXPECT_EQ(dead.status, 404) << dead.body;

  // Continuous counters: the burner is on CPU all the time, at 49 Hz per CPU.
  ASSERT_TRUE(WaitFor(
      [&] {
        return SumSamples(collector.Scrape(), "zerotrace_oncpu_samples_total",
                          {{"service_name", Service()}}) >= 49;
      },
      std::chrono::seconds(10)));
  EXPECT_TRUE(HasSample(collector.Scrape(), "zerotrace_offcpu_seconds_total", {}));
}

// Whole-host profiles symbolize every process that ran, many of them gone by then. With bcc's
// symbol cache (Debian 12) each new process's cache closed a random descriptor of the daemon:
// after about ten such requests under a compiler-heavy load the listener was gone. Every request
// must succeed and the daemon must keep answering.
TEST(DaemonProfilingBpfTest, WholeHostProfilesUnderProcessChurnKeepTheDaemonServing) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "oncpu,offcpu"});
  ASSERT_EQ(collector.WaitReady(), "");
  // Short-lived processes, each a new symbolization target, for as long as the requests run.
  Child churn({"/bin/sh", "-c", "while :; do /bin/sleep 0.01; /bin/true; done"});
  for (int i = 0; i < 12; ++i) {
    const char* type = i % 2 ? "oncpu" : "offcpu";
    auto r = HttpGet(collector.Url(std::string("/flamegraph?type=") + type +
                                   "&seconds=1&format=" + (i % 3 ? "pprof" : "folded")),
                     20000);
    ASSERT_EQ(r.status, 200) << "request " << i << " (" << type << "): " << r.body;
    EXPECT_FALSE(r.body.empty());
  }
  churn.Signal(SIGKILL);
  EXPECT_EQ(HttpGet(collector.Url("/health")).status, 200);
}

TEST(DaemonProfilingBpfTest, AttachWritesProfilesAndTheConverterReadsThem) {
  ZT_REQUIRE_BPF();
  Child burn({ZT_BURN_CPU, "0"});
  ASSERT_EQ(burn.ReadLine(std::chrono::seconds(10)), "ready");
  const std::string dir = TempDir();
  Child attach({ZT_BIN, "attach", "--pid", std::to_string(burn.pid()), "--duration", "2s",
                "--profile", "oncpu,offcpu", "--out", dir},
               {}, dir + "/attach.log");
  std::string out;
  while (auto line = attach.ReadLine(std::chrono::seconds(30))) out += *line + "\n";
  auto status = attach.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << ReadFileOrEmpty(dir + "/attach.log");
  EXPECT_NE(out.find("burn_cpu_for_test"), std::string::npos) << out;  // the top-15 summary
  for (const char* f : {"oncpu.svg", "oncpu.folded", "oncpu.pb.gz", "offcpu.svg", "offcpu.folded",
                        "offcpu.pb.gz"}) {
    EXPECT_FALSE(ReadFileOrEmpty(dir + "/" + f).empty()) << f;
  }
  EXPECT_TRUE(ValidXml(dir + "/oncpu.svg"));

  const std::string converted = dir + "/converted.svg";
  ASSERT_EQ(std::system((std::string(ZT_BIN) + " flamegraph " + dir + "/oncpu.folded -o " +
                         converted + " >/dev/null")
                            .c_str()),
            0);
  EXPECT_TRUE(ValidXml(converted));
  EXPECT_NE(ReadFileOrEmpty(converted).find("burn_cpu_for_test"), std::string::npos);
  EXPECT_NE(std::system((std::string(ZT_BIN) + " flamegraph /nonexistent.folded -o " + converted +
                         " 2>/dev/null")
                            .c_str()),
            0);
}

TEST(DaemonProfilingBpfTest, AttachToAMissingPidIsAClearError) {
  ZT_REQUIRE_BPF();
  const std::string log = TempDir() + "/attach.log";
  Child attach({ZT_BIN, "attach", "--pid", "4194303", "--profile", "oncpu"}, {}, log);
  auto status = attach.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_NE(ReadFileOrEmpty(log).find("does not exist"), std::string::npos) << ReadFileOrEmpty(log);
}

TEST(DaemonProfilingBpfTest, AttachWithAnUnwritableOutDirIsAClearError) {
  ZT_REQUIRE_BPF();
  Child burn({ZT_BURN_CPU, "0"});
  ASSERT_EQ(burn.ReadLine(std::chrono::seconds(10)), "ready");
  const std::string log = TempDir() + "/attach.log";
  Child attach({ZT_BIN, "attach", "--pid", std::to_string(burn.pid()), "--profile", "oncpu",
                "--out", "/proc/zerotrace-cannot-write-here"},
               {}, log);
  auto status = attach.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_NE(ReadFileOrEmpty(log).find("not a writable directory"), std::string::npos)
      << ReadFileOrEmpty(log);
}

TEST(DaemonProfilingBpfTest, AttachToAProcessThatExitsMidwayKeepsWhatWasCaptured) {
  ZT_REQUIRE_BPF();
  Child burn({ZT_BURN_CPU, "0"});  // burns until killed
  ASSERT_EQ(burn.ReadLine(std::chrono::seconds(10)), "ready");
  const uint32_t pid = static_cast<uint32_t>(burn.pid());
  const std::string dir = TempDir();
  Child attach({ZT_BIN, "attach", "--pid", std::to_string(pid), "--duration", "60s", "--profile",
                "oncpu", "--out", dir},
               {}, dir + "/attach.log");
  // The target dies midway: once attach samples it (its perf events exist, whatever the time
  // loading the probes took) and the burner has had half a second of CPU since.
  ASSERT_TRUE(WaitFor([&] { return HoldsPerfEvent(static_cast<uint32_t>(attach.pid())); },
                      std::chrono::seconds(120)))
      << ReadFileOrEmpty(dir + "/attach.log");
  const double cpu0 = CpuSeconds(pid);
  ASSERT_TRUE(WaitFor([&] { return CpuSeconds(pid) >= cpu0 + 0.5; }, std::chrono::seconds(30)));
  burn.Signal(SIGKILL);
  ASSERT_TRUE(burn.Wait(std::chrono::seconds(10)).has_value());  // reaped: gone from /proc
  std::string out;
  while (auto line = attach.ReadLine(std::chrono::seconds(30))) out += *line + "\n";
  auto status = attach.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << ReadFileOrEmpty(dir + "/attach.log");
  EXPECT_NE(ReadFileOrEmpty(dir + "/attach.log").find("exited"), std::string::npos)
      << ReadFileOrEmpty(dir + "/attach.log");
  EXPECT_NE(ReadFileOrEmpty(dir + "/oncpu.folded").find("burn_cpu_for_test"), std::string::npos);
}

// The target exits at any moment of an attach (while the probes load, while profiling, at the
// end of the window): every time exit 0, a line saying it exited, no crash (the pipeline thread
// once outlived the socket rings it reads and segfaulted). ZT_ATTACH_EXIT_TIMINGS sets how many
// timings (scripts/attach-exit-loop.sh runs 50); they spread over the load time and the window.
TEST(DaemonProfilingBpfTest, AttachSurvivesTheTargetExitingAtAnyMoment) {
  ZT_REQUIRE_BPF();
  const char* env = std::getenv("ZT_ATTACH_EXIT_TIMINGS");
  const int timings = env ? std::max(1, std::atoi(env)) : 6;
  // A `sleep` orphaned to init, which reaps it the moment it exits (a zombie of ours would
  // still show in /proc and look alive). Returns its pid.
  auto start_target = [](std::chrono::milliseconds lifetime) {
    char cmd[96];
    std::snprintf(cmd, sizeof(cmd), "sleep %.3f >/dev/null 2>&1 & echo $!",
                  static_cast<double>(lifetime.count()) / 1000.0);
    Child sh({"/bin/sh", "-c", cmd});
    const auto line = sh.ReadLine(std::chrono::seconds(10));
    sh.Wait(std::chrono::seconds(10));
    return line ? std::atoi(line->c_str()) : -1;
  };
  auto attach_to = [](int pid, std::chrono::milliseconds* took) {
    const std::string dir = TempDir();
    const auto t0 = std::chrono::steady_clock::now();
    Child attach({ZT_BIN, "attach", "--pid", std::to_string(pid), "--duration", "2s", "--profile",
                  "offcpu", "--out", dir},
                 {}, dir + "/attach.log");
    auto status = attach.Wait(std::chrono::seconds(180));
    *took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  t0);
    return std::make_pair(status, ReadFileOrEmpty(dir + "/attach.log"));
  };
  // First a target that outlives the attach: how long one takes here (probe loading included).
  const int long_lived = start_target(std::chrono::milliseconds(600000));
  ASSERT_GT(long_lived, 0);
  std::chrono::milliseconds full{0};
  auto [status, log] = attach_to(long_lived, &full);
  kill(long_lived, SIGKILL);
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log;
  for (int i = 0; i < timings; ++i) {
    // From 100 ms to just past the attach's own length, evenly.
    const auto lifetime =
        std::chrono::milliseconds(100) + (full + std::chrono::milliseconds(200)) * i / timings;
    const int pid = start_target(lifetime);
    ASSERT_GT(pid, 0);
    std::chrono::milliseconds took{0};
    auto [st, out] = attach_to(pid, &took);
    if (lifetime > took) kill(pid, SIGKILL);  // still alive (a dead pid may be reused)
    ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
        << "target lived " << lifetime.count() << " ms, attach status " << (st ? *st : -1) << "\n"
        << out;
    // A target gone well inside the window says so. The window starts after the target did,
    // so one that lived less than the window's 2 s (with a margin) died inside it. Not "before
    // the attach process ended": the attach spends a while after its window writing results, and
    // a target that dies then was rightly not reported (CI: lived 2,478 ms, attach took more).
    if (lifetime + std::chrono::milliseconds(300) < std::chrono::milliseconds(2000)) {
      EXPECT_NE(out.find("exited"), std::string::npos)
          << "target lived " << lifetime.count() << " ms\n"
          << out;
    }
  }
}

}  // namespace
}  // namespace zerotrace::testing
