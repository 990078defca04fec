// zerotrace as its users' monitoring stack sees it: every exported metric is documented, and a
// real Prometheus (Debian's) scraping a real collector answers PromQL about a known workload.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "collector.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

// A port the kernel just handed out and that is free again (Prometheus cannot listen on :0).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string FamilyOf(const std::string& sample) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
      return sample.substr(0, sample.size() - s.size());
    }
  }
  return sample;
}

// Drives one HTTP request through a real server so the L7 families exist before the scrape.
void MakeSomeHttpTraffic() {
  Child server({"/usr/bin/python3", std::string(ZT_SERVERS_DIR) + "/http_test_server.py"});
  auto ready = server.ReadLine(std::chrono::seconds(20));
  ASSERT_TRUE(ready && ready->rfind("ready ", 0) == 0);
  const std::string url = "http://127.0.0.1:" + ready->substr(6) + "/ok";
  ASSERT_EQ(HttpGet(url).status, 200);
  server.CloseStdin();
  server.Wait(std::chrono::seconds(5));
}

TEST(ObservabilityBpfTest, EveryExportedMetricIsDocumented) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {});
  ASSERT_EQ(collector.WaitReady(), "");
  MakeSomeHttpTraffic();
  std::set<std::string> exported;
  ASSERT_TRUE(WaitFor(
      [&] {
        exported.clear();
        for (const auto& s : collector.Scrape()) exported.insert(FamilyOf(s.name));
        return exported.count("http_server_request_duration_seconds") &&
               exported.count("zerotrace_oncpu_samples_total");
      },
      std::chrono::seconds(15)));
  const std::string doc = ReadFileOrEmpty(ZT_METRICS_DOC);
  ASSERT_FALSE(doc.empty());
  std::set<std::string> documented;
  static const std::regex kRow(R"(^\| `([a-zA-Z_:][a-zA-Z0-9_:]*)` \|)");
  std::istringstream lines(doc);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, kRow)) documented.insert(m[1]);
  }
  EXPECT_GT(exported.size(), 20u);
  for (const auto& name : exported) {
    EXPECT_TRUE(documented.count(name)) << name << " is exported but missing from docs/metrics.md";
  }
}

TEST(ObservabilityBpfTest, PrometheusScrapesTheCollectorAndAnswersPromQL) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "syscalls"});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string target = collector.Url("").substr(std::string("http://").size());
  const std::string dir = TempDir();
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      << "scrape_configs:\n  - job_name: zerotrace\n    static_configs:\n"
      << "      - targets: ['" << target << "']\n";
  const int port = FreePort();
  const std::string service = "zt-prom-" + std::to_string(getpid());
  Child prom({"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
              "--storage.tsdb.path=" + dir + "/data",
              "--web.listen-address=127.0.0.1:" + std::to_string(port)},
             {}, dir + "/prometheus.log");
  const std::string api = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query?query=";

  Child w({ZT_SYSCALL_WORKLOAD, "1000", "500", "0", "0"}, {"OTEL_SERVICE_NAME=" + service});
  ASSERT_EQ(w.ReadLine(std::chrono::seconds(10)), "ready");
  w.WriteLine("go");
  ASSERT_EQ(w.ReadLine(std::chrono::seconds(30)), "done");

  auto query = [&](const std::string& promql) -> std::optional<double> {
    std::string encoded;
    for (char c : promql) {
      if (isalnum(static_cast<unsigned char>(c))) {
        encoded += c;
      } else {
        char buf[4];
        std::snprintf(buf, sizeof(buf), "%%%02X", static_cast<unsigned char>(c));
        encoded += buf;
      }
    }
    auto r = HttpGet(api + encoded);
    if (r.status != 200) return std::nullopt;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || j["data"]["result"].empty()) return std::nullopt;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
  };
  const std::string q =
      "sum(zerotrace_syscalls_total{service_name=\"" + service + "\",syscall=\"getppid\"})";
  std::optional<double> v;
  ASSERT_TRUE(WaitFor([&] { return (v = query(q)) && *v == 1000; }, std::chrono::seconds(30)))
      << "PromQL " << q << " gave " << (v ? std::to_string(*v) : "nothing") << "\n"
      << ReadFileOrEmpty(dir + "/prometheus.log");
  const std::string errors =
      "sum(zerotrace_syscall_errors_total{service_name=\"" + service + "\",syscall=\"openat\"})";
  EXPECT_EQ(query(errors), 500.0);
  EXPECT_EQ(query("up{job=\"zerotrace\"}"), 1.0);
  w.CloseStdin();
  prom.Signal(SIGTERM);
  prom.Wait(std::chrono::seconds(10));
}

}  // namespace
}  // namespace zerotrace::testing
