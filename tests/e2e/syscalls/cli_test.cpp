// The CLI as a user meets it: exit codes and messages for bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

namespace zerotrace::testing {
namespace {

struct Run {
  int code;
  std::string err;
};

Run RunZerotrace(const std::vector<std::string>& args) {
  const std::string err_path = TempDir() + "/stderr";
  std::vector<std::string> argv;
  if (args.empty() || args[0][0] != '/') argv.push_back(ZT_BIN);
  argv.insert(argv.end(), args.begin(), args.end());
  Child c(argv, {}, err_path);
  c.CloseStdin();
  auto status = c.Wait(std::chrono::seconds(20));
  return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, ReadFileOrEmpty(err_path)};
}

std::string WriteConfig(const std::string& text) {
  const std::string path = TempDir() + "/zerotrace.yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(CliTest, VersionExitsZero) { EXPECT_EQ(RunZerotrace({"version"}).code, 0); }

TEST(CliTest, UnknownConfigKeyExits2NamingTheKey) {
  auto r = RunZerotrace({"--config", WriteConfig("listen: :0\nprobez: {}\n"), "run"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'probez'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1)
      << "one error line expected: " << r.err;
}

TEST(CliTest, BadValueExits2) {
  auto r = RunZerotrace({"--config", WriteConfig("interval: later\n"), "run"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("interval"), std::string::npos) << r.err;
}

TEST(CliTest, MissingConfigFileExits2NamingTheFile) {
  auto r = RunZerotrace({"--config", "/nonexistent/zt.yaml", "run"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("/nonexistent/zt.yaml"), std::string::npos) << r.err;
}

TEST(CliTest, FlagsOverrideTheFile) {
  // The file's bad log level is overridden by a valid flag, so the error comes from --listen.
  auto r = RunZerotrace({"--config", WriteConfig("log_level: loud\n"), "--log-level", "info", "run",
                         "--listen", "127.0.0.1:notaport"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("notaport"), std::string::npos) << r.err;
}

TEST(CliTest, UnknownFlagExits2) { EXPECT_EQ(RunZerotrace({"run", "--bogus"}).code, 2); }

TEST(CliTest, UnknownProbeExits2) {
  auto r = RunZerotrace({"run", "--probes", "syscalls,teleport"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("teleport"), std::string::npos) << r.err;
}

TEST(CliTest, DeadPidIsAClearError) {
  ZT_REQUIRE_BPF();
  auto r = RunZerotrace({"run", "--listen", "127.0.0.1:0", "--pid", "4194303"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no such process"), std::string::npos) << r.err;
}

TEST(CliTest, UnprivilegedRunSaysWhatItNeeds) {
  ZT_REQUIRE_BPF();  // root is needed to drop to another user
  auto r = RunZerotrace({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         "--inh-caps=-all", "--bounding-set=-all", ZT_BIN, "run", "--listen",
                         "127.0.0.1:0"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("CAP_BPF"), std::string::npos) << r.err;
}

TEST(CliTest, JsonLogsAreOneObjectPerLine) {
  ZT_REQUIRE_BPF();
  auto r =
      RunZerotrace({"--log-format", "json", "run", "--listen", "127.0.0.1:0", "--pid", "4194303"});
  EXPECT_EQ(r.code, 1);
  ASSERT_FALSE(r.err.empty());
  std::istringstream lines(r.err);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
  }
}

TEST(CliTest, ProbeReportsFeaturesAsJson) {
  ZT_REQUIRE_BPF();
  const std::string out_path = TempDir() + "/probe.json";
  ASSERT_EQ(std::system((std::string(ZT_BIN) + " probe --json > " + out_path).c_str()), 0);
  const std::string json = ReadFileOrEmpty(out_path);
  EXPECT_NE(json.find("\"raw_tracepoint\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"syscalls\""), std::string::npos) << json;
}

}  // namespace
}  // namespace zerotrace::testing
