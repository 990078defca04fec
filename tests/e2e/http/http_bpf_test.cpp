// End to end: real servers from Debian packages (python3 http.server, nginx, python3-grpcio),
// real clients (curl, grpcio), a real `zerotrace run`/`attach`; exact request counts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "collector.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

const std::string kPython = "/usr/bin/python3";  // Debian's, which has python3-grpcio
const std::string kServers = ZT_SERVERS_DIR;

std::string Unique(const char* what) {
  return std::string("zt-") + what + "-" + std::to_string(getpid());
}

// A test server that prints "ready <port>" and lives until its stdin closes.
struct Server {
  Server(std::vector<std::string> argv, const std::string& service)
      : child(std::move(argv), {"OTEL_SERVICE_NAME=" + service}) {
    auto line = child.ReadLine(std::chrono::seconds(20));
    if (line && line->rfind("ready ", 0) == 0) port = std::stoi(line->substr(6));
  }
  ~Server() {
    child.CloseStdin();
    if (!child.Wait(std::chrono::seconds(5))) child.Signal(SIGKILL);
  }
  Child child;
  int port = 0;
};

int RunCurl(const std::vector<std::string>& args, const std::string& service) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-o", "/dev/null"};
  argv.insert(argv.end(), args.begin(), args.end());
  Child c(argv, {"OTEL_SERVICE_NAME=" + service});
  c.CloseStdin();
  auto status = c.Wait(std::chrono::seconds(30));
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

// Every series of `metric` for `service`, for failure messages.
std::string Describe(const std::vector<Sample>& samples, const std::string& metric,
                     const std::string& service) {
  std::string out;
  for (const auto& s : samples) {
    if (s.name != metric || s.labels.count("service_name") == 0 ||
        s.labels.at("service_name") != service) {
      continue;
    }
    for (const auto& [k, v] : s.labels) out += k + "=" + v + " ";
    out += "-> " + std::to_string(s.value) + "\n";
  }
  return out.empty() ? "(no series)" : out;
}

double Count(const std::vector<Sample>& s, const std::string& metric,
             std::map<std::string, std::string> labels) {
  return SumSamples(s, metric + "_count", labels);
}

// Server requests of `service` on `route` answered with `status`.
double ServerCount(const std::vector<Sample>& s, const std::string& service,
                   const std::string& route, const std::string& status) {
  return Count(
      s, "http_server_request_duration_seconds",
      {{"service_name", service}, {"http_route", route}, {"http_response_status_code", status}});
}

// libssl files with the TLS uprobes attached now (the collector's own gauge).
double TlsLibrariesAttached(Collector& collector) {
  return SumSamples(collector.Scrape(), "zerotrace_uprobe_targets", {{"probe", "sockets"}});
}

// Requests on fresh connections per route: 25, or ZT_E2E_FRESH_CONNECTIONS (the kernel matrix
// takes fewer: under QEMU without KVM each curl process costs about a second to start).
int FreshConnections() {
  const char* env = std::getenv("ZT_E2E_FRESH_CONNECTIONS");
  return env ? std::max(1, std::atoi(env)) : 25;
}

// Requests per route of DriveHttp1.
int Http1PerRoute() { return 25 + FreshConnections(); }

// 4 routes x Http1PerRoute() requests to the Python server: per route 25 over one keep-alive
// connection (one curl, many URLs) and FreshConnections() on fresh connections (one curl each).
void DriveHttp1(int port, const std::string& client_service) {
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  for (const std::string route : {"/ok", "/missing", "/fail", "/slow"}) {
    std::vector<std::string> keepalive;
    for (int i = 0; i < 25; ++i) {
      if (i) keepalive.push_back("-o");
      if (i) keepalive.push_back("/dev/null");
      keepalive.push_back(base + route + "?i=" + std::to_string(i));
    }
    ASSERT_EQ(RunCurl(keepalive, client_service), 0);
    for (int i = 0; i < FreshConnections(); ++i) {
      ASSERT_EQ(RunCurl({base + route}, client_service), 0);
    }
  }
}

// Each attach path the sockets loader can take (the kernel here has them all); the fallbacks are
// forced the way an operator would, by disabling the features the better paths need.
struct AttachPath {
  std::string mode;      // zerotrace_probe_attach_mode{probe="sockets"}
  std::string disabled;  // ZEROTRACE_DISABLE_FEATURES
};

// Every attach path of the sockets probe, each forced by disabling the ones preferred to it.
const std::vector<AttachPath> kAttachPaths = {
    {"sock_tracepoints", ""},
    {"tp_btf", "sock_tracepoints"},
    {"raw_tracepoint", "sock_tracepoints,tp_btf"},
    {"tracepoint", "sock_tracepoints,raw_tracepoint,tp_btf"}};

std::string AttachPathName(const ::testing::TestParamInfo<AttachPath>& info) {
  return info.param.mode;
}

class OnEachAttachPath : public ::testing::TestWithParam<AttachPath> {
 protected:
  std::vector<std::string> Env() const {
    return {"ZEROTRACE_DISABLE_FEATURES=" + GetParam().disabled};
  }
  // Ready, and attached the way the parameter says; true when the case should go on. On a
  // kernel older than the path needs (sock tracepoints: 6.3, by the kernel's own version, not
  // the feature probe under test) the case instead asserts the loader fell back to the next
  // path, and ends: that path has its own case. Nothing is skipped.
  bool ExpectReadyOnThisPath(Collector& collector) const {
    const std::string ready = collector.WaitReady();
    EXPECT_EQ(ready, "");
    if (!ready.empty()) return false;
    std::string mode = GetParam().mode;
    const bool offered = mode != "sock_tracepoints" || KernelAtLeast(6, 3);
    if (!offered) mode = "tp_btf";
    EXPECT_EQ(SumSamples(collector.Scrape(), "zerotrace_probe_attach_mode",
                         {{"probe", "sockets"}, {"mode", mode}}),
              1)
        << collector.Log();
    return offered && !::testing::Test::HasFailure();
  }
};

class Http1ExactCounts : public OnEachAttachPath {};

INSTANTIATE_TEST_SUITE_P(AttachPaths, Http1ExactCounts, ::testing::ValuesIn(kAttachPaths),
                         AttachPathName);

TEST_P(Http1ExactCounts, ServerAndClient) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "sockets"}, Env());
  if (!ExpectReadyOnThisPath(collector)) return;
  const std::string service = Unique("http1"), client = Unique("curl");
  Server server({kPython, kServers + "/http_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  DriveHttp1(server.port, client);

  const std::string m = "http_server_request_duration_seconds";
  auto expect_counts = [&](const std::vector<Sample>& s) {
    return Count(s, m, {{"service_name", service}}) == 4 * Http1PerRoute() &&
           Count(s, "http_client_request_duration_seconds", {{"service_name", client}}) ==
               4 * Http1PerRoute();
  };
  ASSERT_TRUE(WaitFor([&] { return expect_counts(collector.Scrape()); }, std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service)
      << Describe(collector.Scrape(), "http_client_request_duration_seconds_count", client);
  const auto s = collector.Scrape();
  const std::string port = std::to_string(server.port);
  for (const auto& [route, status] : std::vector<std::pair<std::string, std::string>>{
           {"/ok", "200"}, {"/missing", "404"}, {"/fail", "500"}, {"/slow", "200"}}) {
    EXPECT_EQ(Count(s, m,
                    {{"service_name", service},
                     {"http_request_method", "GET"},
                     {"http_route", route},
                     {"http_response_status_code", status},
                     {"server_port", port}}),
              Http1PerRoute())
        << route;
    EXPECT_EQ(Count(s, "http_client_request_duration_seconds",
                    {{"service_name", client},
                     {"http_request_method", "GET"},
                     {"http_route", route},
                     {"http_response_status_code", status}}),
              Http1PerRoute())
        << route;
  }
  // Every /slow at ≥ 100 ms: the duration sum says the server-side timing is real.
  const double slow_sum =
      SumSamples(s, m + "_sum", {{"service_name", service}, {"http_route", "/slow"}});
  EXPECT_GE(slow_sum, Http1PerRoute() * 0.1);
  EXPECT_LT(slow_sum, Http1PerRoute() * 0.2);
}

// /big, /ok, /big, /ok, /big from the Python test server over one keep-alive connection (curl
// with `curl_flags`): each counted exactly on both sides, downloads timed to their last byte,
// and most of the 12 MiB of bodies (3 × 2 MiB written by the server, read by curl) left in the
// kernel by the capture hint (the first chunks of each body go by before it lands).
void DownloadAndExpectBodiesNotCopied(Collector& collector, const std::string& base,
                                      const std::string& service, const std::string& client,
                                      std::vector<std::string> curl_flags) {
  std::vector<std::string> args = curl_flags;
  for (const std::string route : {"/big", "/ok", "/big", "/ok", "/big"}) {
    if (args.size() > curl_flags.size()) args.insert(args.end(), {"-o", "/dev/null"});
    args.push_back(base + route);
  }
  ASSERT_EQ(RunCurl(args, client), 0);
  const std::string m = "http_server_request_duration_seconds";
  const std::string cm = "http_client_request_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto s = collector.Scrape();
        return ServerCount(s, service, "/big", "200") == 3 &&
               ServerCount(s, service, "/ok", "200") == 2 &&
               Count(s, cm, {{"service_name", client}, {"http_route", "/big"}}) == 3 &&
               Count(s, cm, {{"service_name", client}, {"http_route", "/ok"}}) == 2;
      },
      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service)
      << Describe(collector.Scrape(), cm + "_count", client);
  const auto s = collector.Scrape();
  // Nothing else counted (a warm-up request to /warmup aside).
  EXPECT_EQ(Count(s, m, {{"service_name", service}}) -
                Count(s, m, {{"service_name", service}, {"http_route", "/warmup"}}),
            5);
  // 32 writes 20 ms apart: each download ends ≥ 0.62 s after it began, on both sides.
  EXPECT_GE(SumSamples(s, m + "_sum", {{"service_name", service}, {"http_route", "/big"}}),
            3 * 0.62);
  EXPECT_GE(SumSamples(s, cm + "_sum", {{"service_name", client}, {"http_route", "/big"}}),
            3 * 0.62);
  const double not_copied = SumSamples(s, "zerotrace_socket_bytes_not_copied_total", {});
  EXPECT_GE(not_copied, 6.0 * 1024 * 1024) << "bytes not copied: " << not_copied;
}

// A download of a declared length is not copied out of the kernel once its headers are parsed
// (a capture hint), on every attach path; the exchanges around it on the same keep-alive
// connection, and the download itself, are still counted exactly and timed to their last byte.
TEST_P(Http1ExactCounts, LargeBodiesAreNotCopiedAndStillCountedExactly) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "sockets"}, Env());
  if (!ExpectReadyOnThisPath(collector)) return;
  const std::string service = Unique("download"), client = Unique("downloader");
  Server server({kPython, kServers + "/http_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  DownloadAndExpectBodiesNotCopied(collector, "http://127.0.0.1:" + std::to_string(server.port),
                                   service, client, {});
}

// Every connection that ends is forgotten (the sock path learns it from TCP_CLOSE, the syscall
// paths from close()), and the server's fds, reused by each new connection, never mix two
// connections. Only the server is selected, so nothing else on the host is tracked.
TEST_P(Http1ExactCounts, EndedConnectionsAreForgotten) {
  ZT_REQUIRE_BPF();
  const std::string service = Unique("http1-close");
  Server server({kPython, kServers + "/http_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  Collector collector(ZT_BIN, {"--probes", "sockets", "--pid", std::to_string(server.child.pid())},
                      Env());
  if (!ExpectReadyOnThisPath(collector)) return;
  constexpr int kConnections = 30;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port) + "/ok";
  for (int i = 0; i < kConnections; ++i) ASSERT_EQ(RunCurl({url}, "zt-close-client"), 0);
  const std::string m = "http_server_request_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto s = collector.Scrape();
        return ServerCount(s, service, "/ok", "200") == kConnections &&
               SumSamples(s, "zerotrace_connections_tracked", {}) == 0;
      },
      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service) << "connections tracked: "
      << SumSamples(collector.Scrape(), "zerotrace_connections_tracked", {});
}

// curl -f gives up on a 502 as soon as it has the headers and closes; the server's body write
// then meets the reset, which loopback processes inside that write, so the kernel reports the
// socket's end before the write's bytes. Every request must still be counted once.
TEST(HttpBpfTest, ClientClosingAfterTheHeadersIsCountedExactly) {
  ZT_REQUIRE_BPF();
  const std::string service = Unique("front-fail");
  Server back({kPython, kServers + "/http_test_server.py"}, Unique("back-fail"));
  ASSERT_GT(back.port, 0);
  Server front({kPython, kServers + "/front_service.py", std::to_string(back.port)}, service);
  ASSERT_GT(front.port, 0);
  Collector collector(ZT_BIN, {"--probes", "sockets", "--pid", std::to_string(front.child.pid())});
  ASSERT_EQ(collector.WaitReady(), "");
  constexpr int kRequests = 40;
  const std::string url = "http://127.0.0.1:" + std::to_string(front.port) + "/api/fail";
  for (int i = 0; i < kRequests; ++i) ASSERT_EQ(RunCurl({"-f", url}, "zt-fail-client"), 22);
  const std::string m = "http_server_request_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] { return ServerCount(collector.Scrape(), service, "/api/fail", "502") == kRequests; },
      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service);
}

TEST(HttpBpfTest, ConnectionsOpenedBeforeZerotraceStartedArePickedUp) {
  ZT_REQUIRE_BPF();
  const std::string service = Unique("preexisting"), client = Unique("preexisting-client");
  Server server({kPython, kServers + "/http_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  Child keepalive({kPython, kServers + "/keepalive_client.py", std::to_string(server.port)},
                  {"OTEL_SERVICE_NAME=" + client});
  ASSERT_EQ(keepalive.ReadLine(std::chrono::seconds(10)), "ready");
  // Only now does the collector start: accept() and connect() of this connection are history.
  Collector collector(ZT_BIN, {"--probes", "sockets"});
  ASSERT_EQ(collector.WaitReady(), "");
  // The server thread sits in a read() entered before the probes attached: that one request's
  // bytes are never seen (its response is counted as unparsed). Every later one is exact.
  keepalive.WriteLine("go 1");
  ASSERT_EQ(keepalive.ReadLine(std::chrono::seconds(20)), "done");
  const std::string m = "http_server_request_duration_seconds";
  const std::map<std::string, std::string> ok{{"service_name", service}, {"http_route", "/ok"}};
  const std::map<std::string, std::string> client_ok{{"service_name", client},
                                                     {"http_route", "/ok"}};
  const std::string cm = "http_client_request_duration_seconds";
  // The client's side of that request is whole (written after the probes attached); once it is
  // counted, the server's write before it has been processed too (events merge in time order).
  ASSERT_TRUE(WaitFor([&] { return Count(collector.Scrape(), cm, client_ok) == 1; },
                      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), cm + "_count", client);
  const double before = Count(collector.Scrape(), m, ok);
  EXPECT_LE(before, 1);
  constexpr int kRequests = 30;
  keepalive.WriteLine("go " + std::to_string(kRequests));
  ASSERT_EQ(keepalive.ReadLine(std::chrono::seconds(20)), "done");
  ASSERT_TRUE(WaitFor([&] { return Count(collector.Scrape(), m, ok) - before == kRequests; },
                      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service);
  // The role was not seen (no accept/connect): it is inferred from who sends the request. The
  // client's last response is read after the server wrote it: wait for it too.
  EXPECT_TRUE(WaitFor([&] { return Count(collector.Scrape(), cm, client_ok) == kRequests + 1; },
                      std::chrono::seconds(5)))
      << Describe(collector.Scrape(), cm + "_count", client);
  keepalive.CloseStdin();
}

TEST(HttpBpfTest, AttachPrintsRedTableWithPlausiblePercentiles) {
  ZT_REQUIRE_BPF();
  const std::string service = Unique("attach");
  Server server({kPython, kServers + "/http_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  const std::string dir = TempDir();
  const std::string log = dir + "/attach.log";
  Child attach({ZT_BIN, "attach", "--pid", std::to_string(server.child.pid()), "--duration", "120s",
                "--out", dir, "--summary-json", dir + "/red.json", "--spans", dir + "/spans.jsonl",
                "--ready-file", dir + "/ready"},
               {}, log);
  ASSERT_TRUE(WaitFor([&] { return !ReadFileOrEmpty(dir + "/ready").empty(); },
                      Collector::DefaultReadyTimeout()))  // attach loads the same probes as run
      << ReadFileOrEmpty(log);
  EXPECT_EQ(ReadFileOrEmpty(dir + "/ready"), std::to_string(server.child.pid()) + "\n");
  DriveHttp1(server.port, Unique("curl-attach"));
  // No pause: every request is complete, and attach reads what the kernel recorded on stop.
  attach.Signal(SIGINT);
  std::string table;
  while (auto line = attach.ReadLine(std::chrono::seconds(10))) table += *line + "\n";
  auto status = attach.Wait(std::chrono::seconds(10));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ReadFileOrEmpty(log);
  EXPECT_NE(table.find("GET /slow"), std::string::npos) << table;

  auto rows = nlohmann::json::parse(ReadFileOrEmpty(dir + "/red.json"));
  std::map<std::string, nlohmann::json> by_route;
  for (const auto& r : rows) {
    if (r["kind"] == "server") by_route[r["route"].get<std::string>()] = r;
  }
  ASSERT_EQ(by_route.size(), 4u) << rows.dump(2);
  for (const auto& route : {"/ok", "/missing", "/fail", "/slow"}) {
    EXPECT_EQ(by_route[route]["count"], Http1PerRoute()) << route;
  }
  EXPECT_EQ(by_route["/fail"]["errors"], Http1PerRoute());
  EXPECT_EQ(by_route["/missing"]["errors"], 0);  // 4xx is the client's error, not the server's
  const double p50 = by_route["/slow"]["p50_seconds"].get<double>();
  EXPECT_GE(p50, 0.100);
  EXPECT_LE(p50, 0.150);
  EXPECT_LT(by_route["/ok"]["p50_seconds"].get<double>(), 0.05);

  // --spans: OTLP JSON lines, one SERVER span per request, with the route and status.
  std::ifstream spans(dir + "/spans.jsonl");
  std::string line;
  std::map<std::string, int> server_spans_by_route;
  while (std::getline(spans, line)) {
    auto req = nlohmann::json::parse(line);
    for (const auto& rs : req["resourceSpans"]) {
      for (const auto& ss : rs["scopeSpans"]) {
        for (const auto& span : ss["spans"]) {
          if (span["kind"] != 2) continue;  // SPAN_KIND_SERVER
          EXPECT_EQ(span["traceId"].get<std::string>().size(), 32u);
          for (const auto& a : span["attributes"]) {
            if (a["key"] == "http.route") ++server_spans_by_route[a["value"]["stringValue"]];
          }
        }
      }
    }
  }
  for (const auto& route : {"/ok", "/missing", "/fail", "/slow"}) {
    EXPECT_EQ(server_spans_by_route[route], Http1PerRoute()) << route;
  }
}

// nginx in the foreground as one process, configured for one server block.
struct Nginx {
  Nginx(const std::string& listen_suffix, const std::string& extra, const std::string& service,
        std::vector<std::string> env = {}) {
    {
      Server probe({kPython, kServers + "/http_test_server.py"}, "zt-port-probe");
      port = probe.port;  // a port the kernel just handed out and that is free again now
    }
    std::ofstream(dir + "/nginx.conf")
        << "daemon off;\nmaster_process off;\nworker_processes 1;\npid " << dir
        << "/nginx.pid;\nerror_log " << dir << "/error.log;\nenv OTEL_SERVICE_NAME;\n"
        << "events { worker_connections 64; }\nhttp {\n  access_log off;\n"
        << "  client_body_temp_path " << dir << "/body;\n  proxy_temp_path " << dir << "/proxy;\n"
        << "  fastcgi_temp_path " << dir << "/fcgi;\n  uwsgi_temp_path " << dir << "/uwsgi;\n"
        << "  scgi_temp_path " << dir << "/scgi;\n"
        << "  server {\n    listen 127.0.0.1:" << port << " " << listen_suffix << ";\n"
        << extra << "    location = /ok { return 200 \"ok\\n\"; }\n"
        << "    location = /fail { return 500 \"fail\\n\"; }\n"
        << "    location / { return 404 \"missing\\n\"; }\n  }\n}\n";
    env.push_back("OTEL_SERVICE_NAME=" + service);
    process = std::make_unique<Child>(
        std::vector<std::string>{"/usr/sbin/nginx", "-c", dir + "/nginx.conf", "-p", dir},
        std::move(env), dir + "/nginx.stderr");
  }
  ~Nginx() {
    process->Signal(SIGQUIT);
    process->Wait(std::chrono::seconds(5));
  }
  std::string dir = TempDir();
  int port = 0;
  std::unique_ptr<Child> process;
};

// nginx answers curl `args` within 10 s (it is up); else its error log says why not.
::testing::AssertionResult Answers(const Nginx& nginx, const std::vector<std::string>& args) {
  if (WaitFor([&] { return RunCurl(args, "zt-warm") == 0; }, std::chrono::seconds(10))) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << ReadFileOrEmpty(nginx.dir + "/error.log");
}

TEST(HttpBpfTest, NginxHttp2CleartextExactCounts) {
  ZT_REQUIRE_BPF();
  const std::string service = Unique("nginx");
  Nginx nginx("http2", "", service);
  ASSERT_GT(nginx.port, 0);
  Collector collector(ZT_BIN, {"--probes", "sockets"});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string base = "http://127.0.0.1:" + std::to_string(nginx.port);
  ASSERT_TRUE(Answers(nginx, {"--http2-prior-knowledge", base + "/warmup"}));
  constexpr int kEach = 20;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_EQ(RunCurl({"--http2-prior-knowledge", base + "/ok"}, "zt-h2c"), 0);
    ASSERT_EQ(RunCurl({"--http2-prior-knowledge", base + "/fail"}, "zt-h2c"), 0);
    ASSERT_EQ(
        RunCurl({"--http2-prior-knowledge", base + "/users/" + std::to_string(1000 + i)}, "zt-h2c"),
        0);
  }
  const std::string m = "http_server_request_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(collector.Scrape(), m, {{"service_name", service}}) == 3 * kEach + 1;
      },
      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service);
  const auto s = collector.Scrape();
  EXPECT_EQ(ServerCount(s, service, "/ok", "200"), kEach);
  EXPECT_EQ(ServerCount(s, service, "/fail", "500"), kEach);
  // Numeric path segments are templated, so 20 user ids make one route.
  EXPECT_EQ(ServerCount(s, service, "/users/{id}", "404"), kEach);
}

// A self-signed certificate and key in a fresh directory, for nginx's ssl listener.
std::string MakeCertificate() {
  const std::string certs = TempDir();
  const int rc =
      std::system(("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + certs + "/key.pem -out " +
                   certs + "/cert.pem -days 1 -subj /CN=localhost >/dev/null 2>&1")
                      .c_str());
  return rc == 0 ? certs : "";
}

std::string SslConfig(const std::string& certs) {
  return "    ssl_certificate " + certs + "/cert.pem;\n    ssl_certificate_key " + certs +
         "/key.pem;\n";
}

// Responses far larger than the 16 KiB capture, one per connection, by nginx over HTTP/2:
// kEach to /big (1 MB) and kEach to /fail; server and client counted exactly, and the DATA
// payload of both sides stayed in the kernel. Cleartext: nginx writes 8 KiB DATA frames by
// writev (a file read into buffers), curl reads 32 KiB at a time, so the END_STREAM flag that
// completes a request is on a frame header past the capture of the call that carries it; the
// kernel follows the frame boundaries. TLS: every SSL_write/SSL_read holds at most one 16 KiB
// record, within the capture. Either way a followed direction is not copied past the header of
// a large DATA frame, or the payload would be copied whole.
void ExpectLargeHttp2ResponsesCounted(bool tls) {
  const std::string service = Unique(tls ? "nginx-h2tls" : "nginx-h2big");
  const std::string client = Unique(tls ? "curl-h2tls" : "curl-h2big");
  const std::string www = TempDir();
  constexpr size_t kBig = 1'000'000;
  std::ofstream(www + "/big") << std::string(kBig, 'z');
  const std::string location = "    location = /big { root " + www + "; }\n";
  std::string certs;
  if (tls) {
    certs = MakeCertificate();
    ASSERT_NE(certs, "");
  }
  Nginx nginx(tls ? "ssl http2" : "http2", tls ? SslConfig(certs) + location : location, service);
  ASSERT_GT(nginx.port, 0);
  Collector collector(ZT_BIN, {"--probes", tls ? "sockets,tls" : "sockets"});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string base =
      (tls ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(nginx.port);
  const std::vector<std::string> h2 = {tls ? "--http2" : "--http2-prior-knowledge", "-k"};
  auto with = [&](const std::string& url) {
    std::vector<std::string> args = h2;
    args.push_back(url);
    return args;
  };
  ASSERT_TRUE(Answers(nginx, with(base + "/ok")));
  if (tls) {
    ASSERT_TRUE(
        WaitFor([&] { return TlsLibrariesAttached(collector) >= 1; }, std::chrono::seconds(10)))
        << collector.Log();
  }
  constexpr int kEach = 8;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_EQ(RunCurl(with(base + "/big"), client), 0);
    ASSERT_EQ(RunCurl(with(base + "/fail"), client), 0);
  }
  const std::string m = "http_server_request_duration_seconds";
  const std::string cm = "http_client_request_duration_seconds";
  auto client_count = [&](const std::vector<Sample>& s, const char* route, const char* status) {
    return Count(
        s, cm,
        {{"service_name", client}, {"http_route", route}, {"http_response_status_code", status}});
  };
  // Waits for the client's counts too: curl's last events can come after nginx's.
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto s = collector.Scrape();
        return ServerCount(s, service, "/big", "200") == kEach &&
               ServerCount(s, service, "/fail", "500") == kEach &&
               client_count(s, "/big", "200") == kEach && client_count(s, "/fail", "500") == kEach;
      },
      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service)
      << Describe(collector.Scrape(), cm + "_count", client);
  const auto s = collector.Scrape();
  // Both sides' DATA payload: nginx's writes and curl's reads.
  const double not_copied = SumSamples(s, "zerotrace_socket_bytes_not_copied_total", {});
  EXPECT_GE(not_copied, 2 * 0.9 * kEach * kBig);
  EXPECT_EQ(SumSamples(s, "zerotrace_http2_frame_following_lost_total", {}), 0);
}

TEST(HttpBpfTest, NginxHttp2LargeResponsesExactCounts) {
  ZT_REQUIRE_BPF();
  ExpectLargeHttp2ResponsesCounted(/*tls=*/false);
}

TEST(HttpBpfTest, NginxHttp2OverTlsLargeResponsesExactCountsAndNotCopied) {
  ZT_REQUIRE_BPF();
  ExpectLargeHttp2ResponsesCounted(/*tls=*/true);
}

// The HTTP/1 download test over HTTPS (Python's ssl module on the system libssl): the plaintext
// from the OpenSSL uprobes has stream offsets of its own, so the capture hint skips the body
// there as on a plaintext socket, on every attach path (the SSL object is tied to its socket
// by the socket calls it makes).
TEST_P(Http1ExactCounts, TlsLargeBodiesAreNotCopiedAndStillCountedExactly) {
  ZT_REQUIRE_BPF();
  const std::string certs = MakeCertificate();
  ASSERT_NE(certs, "");
  Collector collector(ZT_BIN, {"--probes", "sockets,tls"}, Env());
  if (!ExpectReadyOnThisPath(collector)) return;
  const std::string service = Unique("tls-download"), client = Unique("tls-downloader");
  Server server({kPython, kServers + "/http_test_server.py", "--tls", certs + "/cert.pem",
                 certs + "/key.pem"},
                service);
  ASSERT_GT(server.port, 0);
  const std::string base = "https://127.0.0.1:" + std::to_string(server.port);
  ASSERT_TRUE(WaitFor(
      [&] {
        return RunCurl({"-k", base + "/warmup"}, "zt-warm") == 0 &&
               TlsLibrariesAttached(collector) >= 1;
      },
      std::chrono::seconds(10)))
      << collector.Log();
  DownloadAndExpectBodiesNotCopied(collector, base, service, client, {"-k"});
}

// kEach requests to /ok over one keep-alive TLS connection and kEach to /fail on fresh ones;
// the server's (and with check_client, curl's) counts come out of the SSL uprobes exactly.
void DriveTlsAndExpectExactCounts(Collector& collector, const Nginx& nginx,
                                  const std::string& service, const std::string& client,
                                  bool check_client) {
  constexpr int kEach = 10;
  const std::string base = "https://127.0.0.1:" + std::to_string(nginx.port);
  std::vector<std::string> keepalive = {"-k"};
  for (int i = 0; i < kEach; ++i) {
    if (i) {
      keepalive.push_back("-o");
      keepalive.push_back("/dev/null");
    }
    keepalive.push_back(base + "/ok");
  }
  ASSERT_EQ(RunCurl(keepalive, client), 0);
  for (int i = 0; i < kEach; ++i) ASSERT_EQ(RunCurl({"-k", base + "/fail"}, client), 0);
  const std::string m = "http_server_request_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto s = collector.Scrape();
        return Count(s, m, {{"service_name", service}, {"http_route", "/ok"}}) == kEach &&
               Count(s, m, {{"service_name", service}, {"http_route", "/fail"}}) == kEach;
      },
      std::chrono::seconds(10)))
      << Describe(collector.Scrape(), m + "_count", service);
  const auto s = collector.Scrape();
  EXPECT_EQ(ServerCount(s, service, "/ok", "200"), kEach);
  EXPECT_EQ(ServerCount(s, service, "/fail", "500"), kEach);
  if (check_client) {
    EXPECT_EQ(Count(s, "http_client_request_duration_seconds",
                    {{"service_name", client}, {"http_route", "/ok"}}),
              kEach);
  }
}

// nginx over TLS, curl as the client, both counted exactly through the OpenSSL uprobes: by
// default on ssl_read_internal/ssl_write_internal (one probe site per direction, emulated
// instead of single-stepped), with ZEROTRACE_TLS_PUBLIC_FUNCTIONS=1 on the four public
// functions, the path taken where the internal ones cannot be found.
void ExpectTlsCountsThrough(bool public_functions) {
  const std::string service = Unique(public_functions ? "nginx-tls-pub" : "nginx-tls");
  const std::string client = Unique(public_functions ? "curl-tls-pub" : "curl-tls");
  const std::string certs = MakeCertificate();
  ASSERT_NE(certs, "");
  Nginx nginx("ssl", SslConfig(certs), service);
  ASSERT_GT(nginx.port, 0);
  Collector collector(
      ZT_BIN, {"--probes", "tls"},
      {std::string("ZEROTRACE_TLS_PUBLIC_FUNCTIONS=") + (public_functions ? "1" : "0")});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string base = "https://127.0.0.1:" + std::to_string(nginx.port);
  ASSERT_TRUE(Answers(nginx, {"-k", base + "/warmup"}));
  const std::string attached = public_functions ? "probes, public SSL functions)"
                                                : "4 probes, internal read/write functions)";
  ASSERT_TRUE(WaitFor([&] { return collector.Log().find(attached) != std::string::npos; },
                      std::chrono::seconds(10)))
      << collector.Log();
  DriveTlsAndExpectExactCounts(collector, nginx, service, client, /*check_client=*/true);
}

TEST(HttpBpfTest, NginxOverTlsExactCountsThroughOpenSslUprobes) {
  ZT_REQUIRE_BPF();
  ExpectTlsCountsThrough(/*public_functions=*/false);
}

TEST(HttpBpfTest, NginxOverTlsExactCountsThroughThePublicSslFunctions) {
  ZT_REQUIRE_BPF();
  ExpectTlsCountsThrough(/*public_functions=*/true);
}

// With a pid selection the TLS uprobes go into the selected process only (per-process uprobes),
// so every other process using the same system libssl takes no trap per SSL call; the selected
// server is still counted exactly.
TEST(HttpBpfTest, TlsWithAPidSelectionProbesThatProcessOnly) {
  ZT_REQUIRE_BPF();
  const std::string service = Unique("nginx-tls-pid"), client = Unique("curl-tls-pid");
  const std::string certs = MakeCertificate();
  ASSERT_NE(certs, "");
  Nginx nginx("ssl", SslConfig(certs), service);
  ASSERT_GT(nginx.port, 0);
  const std::string base = "https://127.0.0.1:" + std::to_string(nginx.port);
  ASSERT_TRUE(Answers(nginx, {"-k", base + "/warmup"}));
  const std::string pid = std::to_string(nginx.process->pid());
  Collector collector(ZT_BIN, {"--probes", "tls", "--pid", pid});
  ASSERT_EQ(collector.WaitReady(), "");
  ASSERT_TRUE(
      WaitFor([&] { return collector.Log().find(" in pid " + pid + " (") != std::string::npos; },
              std::chrono::seconds(10)))
      << collector.Log();
  // Nothing was attached host-wide (that log line has no "in pid").
  const std::string log = collector.Log();
  for (size_t at = log.find("TLS plaintext capture attached to"); at != std::string::npos;
       at = log.find("TLS plaintext capture attached to", at + 1)) {
    const std::string line = log.substr(at, log.find('\n', at) - at);
    EXPECT_NE(line.find(" in pid " + pid + " ("), std::string::npos) << line;
  }
  DriveTlsAndExpectExactCounts(collector, nginx, service, client, /*check_client=*/false);
}

// A server started after zerotrace with its own copy of libssl (as a container image brings
// one): the exec event makes zerotrace scan the new process, and its first requests are counted.
// The periodic full scan runs every 5th interval, 50 s here, so it cannot be what found it.
TEST(HttpBpfTest, LibsslOfAProcessStartedLaterIsAttachedAtExec) {
  ZT_REQUIRE_BPF();
  const std::string libs = TempDir();
  ASSERT_EQ(std::system(("cp /usr/lib/x86_64-linux-gnu/libssl.so.3 " + libs + "/").c_str()), 0)
      << "Debian's libssl3 (x86_64) is expected";
  Collector collector(ZT_BIN, {"--probes", "tls", "--interval", "10s"});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string service = Unique("nginx-own-ssl"), client = Unique("curl-own-ssl");
  const std::string certs = MakeCertificate();
  ASSERT_NE(certs, "");
  const auto started = std::chrono::steady_clock::now();
  Nginx nginx("ssl", SslConfig(certs), service, {"LD_LIBRARY_PATH=" + libs});
  ASSERT_GT(nginx.port, 0);
  const std::string own = libs + "/libssl.so.3 ";
  ASSERT_TRUE(WaitFor([&] { return collector.Log().find(own) != std::string::npos; },
                      std::chrono::seconds(5)))
      << collector.Log();
  const auto attached_after = std::chrono::steady_clock::now() - started;
  EXPECT_LT(attached_after, std::chrono::seconds(5));
  // Server side only: curl's own (system) libssl is attached when curl execs, which can race
  // its first request.
  DriveTlsAndExpectExactCounts(collector, nginx, service, client, /*check_client=*/false);
}

// When no process maps a libssl any more (its container ended), the periodic full scan detaches
// its uprobes: each pins the file's inode, so a deleted layer could never be freed, and links
// would pile up on a node that runs many short-lived containers.
TEST(HttpBpfTest, LibsslNoLongerMappedIsDetached) {
  ZT_REQUIRE_BPF();
  const std::string libs = TempDir();
  ASSERT_EQ(std::system(("cp /usr/lib/x86_64-linux-gnu/libssl.so.3 " + libs + "/").c_str()), 0)
      << "Debian's libssl3 (x86_64) is expected";
  // Full scans every 5th interval: every second here.
  Collector collector(ZT_BIN, {"--probes", "tls", "--interval", "200ms"});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string certs = MakeCertificate();
  ASSERT_NE(certs, "");
  const std::string own = libs + "/libssl.so.3";
  // The log names the file through the mapping process's root: /proc/PID/root/<path>.
  auto logged = [&](const std::string& what) {
    const std::string log = collector.Log();
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) {
      if (log.substr(at, log.find('\n', at) - at).find(own) != std::string::npos) return true;
    }
    return false;
  };
  {
    Nginx nginx("ssl", SslConfig(certs), Unique("nginx-gone"), {"LD_LIBRARY_PATH=" + libs});
    ASSERT_GT(nginx.port, 0);
    ASSERT_TRUE(WaitFor([&] { return logged("capture attached to"); }, std::chrono::seconds(10)))
        << collector.Log();
    EXPECT_FALSE(logged("detached from"));
  }  // nginx stops
  ASSERT_TRUE(WaitFor([&] { return logged("detached from"); }, std::chrono::seconds(10)))
      << collector.Log();
}

TEST(HttpBpfTest, GrpcUnaryFailingAndStreamingExactCounts) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "sockets"});
  ASSERT_EQ(collector.WaitReady(), "");
  const std::string service = Unique("grpc"), client_service = Unique("grpc-client");
  Server server({kPython, kServers + "/grpc_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  constexpr int kCalls = 15;
  Child client({kPython, kServers + "/grpc_test_client.py", std::to_string(server.port),
                std::to_string(kCalls)},
               {"OTEL_SERVICE_NAME=" + client_service});
  ASSERT_EQ(client.ReadLine(std::chrono::seconds(60)), "done");
  const std::string m = "rpc_server_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(collector.Scrape(), m, {{"service_name", service}}) == 3 * kCalls;
      },
      std::chrono::seconds(10)))
      << Count(collector.Scrape(), m, {{"service_name", service}});
  const auto s = collector.Scrape();
  for (const std::string side : {"server", "client"}) {
    const std::string metric = "rpc_" + side + "_duration_seconds";
    const std::string svc = side == "server" ? service : client_service;
    auto c = [&](const std::string& method, const std::string& code) {
      return Count(s, metric,
                   {{"service_name", svc},
                    {"rpc_system", "grpc"},
                    {"rpc_service", "zt.test.Echo"},
                    {"rpc_method", method},
                    {"rpc_grpc_status_code", code}});
    };
    EXPECT_EQ(c("Ok", "0"), kCalls) << side;
    EXPECT_EQ(c("Missing", "5"), kCalls) << side;  // NOT_FOUND
    EXPECT_EQ(c("Stream", "0"), kCalls) << side;
  }
}

// Messages of 300 kB each way over one channel: the calls carrying them are far larger than
// the capture, with gRPC's trailers (the status) and HPACK table updates past it. Every call is
// still counted with its method and status, on both sides, and later calls of the connection
// stay parsable.
class GrpcLargeMessages : public OnEachAttachPath {};

INSTANTIATE_TEST_SUITE_P(AttachPaths, GrpcLargeMessages, ::testing::ValuesIn(kAttachPaths),
                         AttachPathName);

TEST_P(GrpcLargeMessages, ExactCounts) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "sockets"}, Env());
  if (!ExpectReadyOnThisPath(collector)) return;
  const std::string service = Unique("grpc-big"), client_service = Unique("grpc-big-client");
  Server server({kPython, kServers + "/grpc_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  constexpr int kCalls = 10;
  constexpr int kBytes = 300'000;
  Child client({kPython, kServers + "/grpc_test_client.py", std::to_string(server.port),
                std::to_string(kCalls), std::to_string(kBytes)},
               {"OTEL_SERVICE_NAME=" + client_service});
  ASSERT_EQ(client.ReadLine(std::chrono::seconds(60)), "done");
  const std::string m = "rpc_server_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto s = collector.Scrape();
        return Count(s, m, {{"service_name", service}}) == 3 * kCalls &&
               Count(s, "rpc_client_duration_seconds", {{"service_name", client_service}}) ==
                   3 * kCalls;
      },
      std::chrono::seconds(10)))
      << Count(collector.Scrape(), m, {{"service_name", service}}) << " server, "
      << Count(collector.Scrape(), "rpc_client_duration_seconds",
               {{"service_name", client_service}})
      << " client\n"
      << collector.Log();
  const auto s = collector.Scrape();
  for (const std::string side : {"server", "client"}) {
    const std::string metric = "rpc_" + side + "_duration_seconds";
    const std::string svc = side == "server" ? service : client_service;
    auto c = [&](const std::string& method, const std::string& code) {
      return Count(s, metric,
                   {{"service_name", svc},
                    {"rpc_service", "zt.test.Echo"},
                    {"rpc_method", method},
                    {"rpc_grpc_status_code", code}});
    };
    EXPECT_EQ(c("Ok", "0"), kCalls) << side;
    EXPECT_EQ(c("Big", "0"), kCalls) << side;
    EXPECT_EQ(c("Missing", "5"), kCalls) << side;
  }
  EXPECT_EQ(SumSamples(s, "zerotrace_requests_lost_total", {{"protocol", "grpc"}}), 0);
  // Three 300 kB messages per round that surely cross (Ok both ways, Big's answer; Missing's
  // request may be cut short by the early status), each seen by both processes: at least half
  // of those bytes were skipped in the kernel rather than copied (C-core reads 8 KiB at a time,
  // the reads that hold a frame boundary are copied).
  EXPECT_GE(SumSamples(s, "zerotrace_socket_bytes_not_copied_total", {}),
            0.5 * 2 * 3 * kCalls * kBytes);
}

// Without bpf_loop() (kernels before 5.17) frames are not followed: the probe still loads, says
// so, and counts calls that fit in the capture exactly.
TEST(HttpBpfTest, WithoutBpfLoopGrpcStillCountsAndTheLogSaysWhat) {
  ZT_REQUIRE_BPF();
  Collector collector(ZT_BIN, {"--probes", "sockets"}, {"ZEROTRACE_DISABLE_FEATURES=bpf_loop"});
  ASSERT_EQ(collector.WaitReady(), "");
  EXPECT_NE(collector.Log().find("HTTP/2 frames in calls larger than the capture size are not "
                                 "followed (disabled by ZEROTRACE_DISABLE_FEATURES)"),
            std::string::npos)
      << collector.Log();
  const std::string service = Unique("grpc-noloop");
  Server server({kPython, kServers + "/grpc_test_server.py"}, service);
  ASSERT_GT(server.port, 0);
  constexpr int kCalls = 5;
  Child client({kPython, kServers + "/grpc_test_client.py", std::to_string(server.port),
                std::to_string(kCalls)});
  ASSERT_EQ(client.ReadLine(std::chrono::seconds(60)), "done");
  const std::string m = "rpc_server_duration_seconds";
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(collector.Scrape(), m, {{"service_name", service}}) == 3 * kCalls;
      },
      std::chrono::seconds(10)))
      << Count(collector.Scrape(), m, {{"service_name", service}});
}

}  // namespace
}  // namespace zerotrace::testing
