// zerotrace as its users' monitoring stack sees it: every exported metric is documented, and a
// real Prometheus (Debian's) scraping a real collector answers PromQL about a known workload.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "collector.h"
#include "core/metrics_catalog.h"
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

// The `# TYPE` of every family in a Prometheus text exposition.
std::map<std::string, std::string> FamilyTypes(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string hash, kw, name, type;
    if (f >> hash >> kw >> name >> type && hash == "#" && kw == "TYPE") out[name] = type;
  }
  return out;
}

// What a live collector exports is what the catalog declares (userspace/core/metrics_catalog.cpp,
// from which docs/metrics.md is generated): every family declared with its type, every series
// with declared labels only (service_name + k8s_* on per-service metrics, le on buckets) and a
// closed label's values within its list.
TEST(ObservabilityBpfTest, EveryExportedSeriesMatchesTheMetricsCatalog) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {});
  ASSERT_EQ(collector.WaitReady(), "");
  MakeSomeHttpTraffic();
  std::vector<Sample> samples;
  std::set<std::string> exported;
  ASSERT_TRUE(WaitFor(
      [&] {
        samples = collector.Scrape();
        exported.clear();
        for (const auto& s : samples) exported.insert(FamilyOf(s.name));
        return exported.count("http_server_request_duration_seconds") &&
               exported.count("zerotrace_oncpu_samples_total");
      },
      std::chrono::seconds(15)));
  EXPECT_GT(exported.size(), 20u);
  const auto types = FamilyTypes(HttpGet(collector.Url("/metrics")).body);
  for (const auto& [family, type] : types) {
    const metrics::Spec* spec = metrics::Find(family);
    ASSERT_NE(spec, nullptr) << family << " is exported but not declared in the catalog";
    EXPECT_EQ(type, metrics::TypeName(spec->type)) << family;
    EXPECT_FALSE(spec->external) << family;
  }
  const auto& k8s = metrics::K8sLabelNames();
  for (const auto& s : samples) {
    const std::string family = types.count(s.name) ? s.name : FamilyOf(s.name);
    const metrics::Spec* spec = metrics::Find(family);
    ASSERT_NE(spec, nullptr) << s.name;
    for (const auto& [label, value] : s.labels) {
      if (label == "le" && s.name == family + "_bucket") continue;
      if (spec->per_service &&
          (label == "service_name" || std::find(k8s.begin(), k8s.end(), label) != k8s.end())) {
        continue;
      }
      auto declared = std::find_if(spec->labels.begin(), spec->labels.end(),
                                   [&](const metrics::Label& l) { return l.name == label; });
      ASSERT_NE(declared, spec->labels.end()) << s.name << " carries undeclared label " << label;
      if (!declared->values.empty()) {
        EXPECT_NE(std::find(declared->values.begin(), declared->values.end(), value),
                  declared->values.end())
            << s.name << ": " << label << "=" << value << " is not a declared value";
      }
    }
    if (spec->type == metrics::Type::kHistogram && s.name == family + "_bucket" &&
        s.labels.at("le") != "+Inf") {
      const auto& bounds = metrics::BucketBoundaries(spec->buckets);
      const double le = std::stod(s.labels.at("le"));
      EXPECT_TRUE(std::any_of(bounds.begin(), bounds.end(),
                              [&](double b) { return std::abs(b - le) <= 1e-9 * b; }))
          << s.name << " le=" << le << " is not a declared bucket";
    }
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
