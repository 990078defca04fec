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
  Child burn({ZT_BURN_CPU, "2"});  // burns for 2 s, then exits
  ASSERT_EQ(burn.ReadLine(std::chrono::seconds(10)), "ready");
  const std::string dir = TempDir();
  Child attach({ZT_BIN, "attach", "--pid", std::to_string(burn.pid()), "--duration", "30s",
                "--profile", "oncpu", "--out", dir},
               {}, dir + "/attach.log");
  // Reap the burner when it exits, as its parent would; a zombie still shows in /proc.
  std::thread reaper([&] { burn.Wait(std::chrono::seconds(20)); });
  std::string out;
  while (auto line = attach.ReadLine(std::chrono::seconds(30))) out += *line + "\n";
  auto status = attach.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << ReadFileOrEmpty(dir + "/attach.log");
  EXPECT_NE(ReadFileOrEmpty(dir + "/attach.log").find("exited"), std::string::npos)
      << ReadFileOrEmpty(dir + "/attach.log");
  EXPECT_NE(ReadFileOrEmpty(dir + "/oncpu.folded").find("burn_cpu_for_test"), std::string::npos);
  reaper.join();
}

}  // namespace
}  // namespace zerotrace::testing
