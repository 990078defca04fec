#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/http_server.h"
#include "test_util.h"

namespace zerotrace {
namespace {

TEST(HttpServerTest, QueryParsing) {
  auto q = http::ParseQuery("type=oncpu&seconds=5&name=a%20b+c&flag");
  EXPECT_EQ(q["type"], "oncpu");
  EXPECT_EQ(q["seconds"], "5");
  EXPECT_EQ(q["name"], "a b c");
  EXPECT_EQ(q.count("flag"), 1u);
  EXPECT_TRUE(http::ParseQuery("").empty());
  EXPECT_EQ(http::ParseQuery("bad=%zz")["bad"], "%zz");
}

TEST(HttpServerTest, ServesRoutesAnd404) {
  http::Server server;
  server.Route("/hello", [](const http::Request& r) {
    return http::Response{200, "text/plain", "hi " + r.query.at("who"), {}};
  });
  ASSERT_EQ(server.Start("127.0.0.1", 0), "");
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  auto ok = testing::HttpGet(base + "/hello?who=you");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "hi you");
  EXPECT_EQ(testing::HttpGet(base + "/nope").status, 404);
  // A handler that throws answers 500 and the server keeps serving.
  auto missing = testing::HttpGet(base + "/hello");
  EXPECT_EQ(missing.status, 500);
  EXPECT_EQ(testing::HttpGet(base + "/hello?who=again").status, 200);
  server.Stop();
}

TEST(HttpServerTest, PortInUseIsAClearError) {
  http::Server a, b;
  ASSERT_EQ(a.Start("127.0.0.1", 0), "");
  auto err = b.Start("127.0.0.1", a.port());
  EXPECT_NE(err.find("cannot listen"), std::string::npos) << err;
}

int ConnectTo(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends a GET and reads the whole response; "" when the connection failed or was reset.
std::string RawGet(int fd, const std::string& path) {
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) return "";
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string response;
  char buf[1024];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  return n < 0 ? "" : response;
}

int ConnectTo6(uint16_t port) {
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(port);
  addr.sin6_addr = in6addr_loopback;
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool HostHasIpv6Loopback() {
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// The default listen address (":9464") serves IPv4 and IPv6 clients on one port, so IPv6-only
// and dual-stack clusters scrape without configuration.
TEST(HttpServerTest, EmptyHostServesIpv4AndIpv6) {
  http::Server server;
  server.Route("/x", [](const http::Request&) {
    return http::Response{200, "text/plain", "x", {}};
  });
  ASSERT_EQ(server.Start("", 0), "");
  const int v4 = ConnectTo(server.port());
  ASSERT_GE(v4, 0);
  EXPECT_NE(RawGet(v4, "/x").find("200 OK"), std::string::npos);
  close(v4);
  if (!HostHasIpv6Loopback()) {
    // No IPv6 here: the fallback must be plain IPv4 on every address, said so in the address.
    EXPECT_EQ(server.address(), "0.0.0.0:" + std::to_string(server.port()));
    EXPECT_FALSE(server.dual_stack());
    server.Stop();
    return;
  }
  EXPECT_EQ(server.address(), "[::]:" + std::to_string(server.port()));
  EXPECT_TRUE(server.dual_stack());
  const int v6 = ConnectTo6(server.port());
  ASSERT_GE(v6, 0);
  EXPECT_NE(RawGet(v6, "/x").find("200 OK"), std::string::npos);
  close(v6);
  server.Stop();
}

// A port taken on either family is the user's to fix: it must not quietly become a listener on
// the other family alone (an IPv6-only process on the port would then get the IPv6 scrapes).
TEST(HttpServerTest, EmptyHostWithThePortTakenIsAClearError) {
  http::Server v4;
  ASSERT_EQ(v4.Start("127.0.0.1", 0), "");
  http::Server all;
  const std::string err = all.Start("", v4.port());
  EXPECT_NE(err.find("cannot listen on :" + std::to_string(v4.port())), std::string::npos) << err;
  if (!HostHasIpv6Loopback()) return;
  // Taken on IPv6 only (V6ONLY), free on IPv4.
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_any;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t port = ntohs(a.sin6_port);
  http::Server other;
  const std::string err6 = other.Start("", port);
  EXPECT_NE(err6.find("cannot listen on :" + std::to_string(port)), std::string::npos) << err6;
  close(fd);
}

// Long recordings (flamegraphs) have a limit of their own: beyond it they get 429 and can never
// take the slots scrapes and probes need.
TEST(HttpServerTest, LimitedRouteAnswers429AndQuickRoutesStillServe) {
  http::Server server;
  std::atomic<bool> release{false};
  std::atomic<int> running{0};
  server.Route(
      "/slow",
      [&](const http::Request&) {
        ++running;
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return http::Response{200, "text/plain", "done", {}};
      },
      2);
  server.Route("/health", [](const http::Request&) {
    return http::Response{200, "text/plain", "ok", {}};
  });
  ASSERT_EQ(server.Start("127.0.0.1", 0), "");
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  std::vector<std::thread> slow;
  for (int i = 0; i < 2; ++i) slow.emplace_back([&] { testing::HttpGet(base + "/slow", 10000); });
  ASSERT_TRUE(testing::WaitFor([&] { return running == 2; }, std::chrono::seconds(5)));
  auto third = testing::HttpGet(base + "/slow");
  EXPECT_EQ(third.status, 429);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(testing::HttpGet(base + "/health").status, 200);
  release = true;
  for (auto& t : slow) t.join();
  EXPECT_EQ(testing::HttpGet(base + "/slow").status, 200);  // a slot is free again
  server.Stop();
}

// A handler sees the client leave (curl timed out, the user pressed Ctrl-C) and can stop.
TEST(HttpServerTest, HandlerSeesTheClientGo) {
  http::Server server;
  std::atomic<bool> entered{false}, saw_gone{false}, returned{false};
  server.Route("/wait", [&](const http::Request& r) {
    entered = true;
    for (int i = 0; i < 1000 && !saw_gone; ++i) {
      saw_gone = r.client_gone();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    returned = true;
    return http::Response{200, "text/plain", "late", {}};
  });
  ASSERT_EQ(server.Start("127.0.0.1", 0), "");
  const int fd = ConnectTo(server.port());
  ASSERT_GE(fd, 0);
  const std::string request = "GET /wait HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(testing::WaitFor([&] { return entered.load(); }, std::chrono::seconds(5)));
  close(fd);
  EXPECT_TRUE(testing::WaitFor([&] { return returned.load(); }, std::chrono::seconds(4)));
  EXPECT_TRUE(saw_gone);
  server.Stop();
}

// With every connection slot taken, a client still reads the 503 (not a connection reset).
TEST(HttpServerTest, RejectedClientReadsThe503) {
  http::Server server;
  server.Route("/metrics", [](const http::Request&) {
    return http::Response{200, "text/plain", "m", {}};
  });
  ASSERT_EQ(server.Start("127.0.0.1", 0), "");
  std::vector<int> idle;
  for (int i = 0; i < http::Server::kMaxConnections; ++i) idle.push_back(ConnectTo(server.port()));
  ASSERT_TRUE(
      testing::WaitFor([&] { return server.connections() == http::Server::kMaxConnections; },
                       std::chrono::seconds(10)));  // all accepted and waiting
  int answered = 0;
  for (int i = 0; i < 10; ++i) {
    const int fd = ConnectTo(server.port());
    ASSERT_GE(fd, 0);
    const std::string response = RawGet(fd, "/metrics");
    close(fd);
    answered += response.rfind("HTTP/1.1 503", 0) == 0;
  }
  EXPECT_EQ(answered, 10);
  for (int fd : idle) close(fd);
  server.Stop();
}

// Out of descriptors, accept() fails while the client waits in the queue and poll() keeps
// reporting it: the server must pause between tries (not spin a core) and serve the client once
// descriptors are free again.
TEST(HttpServerTest, DescriptorExhaustionPausesAcceptingInsteadOfSpinning) {
  http::Server server;
  server.Route("/hello", [](const http::Request&) {
    return http::Response{200, "text/plain", "hi", {}};
  });
  ASSERT_EQ(server.Start("127.0.0.1", 0), "");
  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers;
  for (int fd; (fd = dup(client)) >= 0;) fillers.push_back(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // Synchronise on the first failure, then measure how often it retries over a fixed window
  // (a rate, so the window is the measurement, not a guess at timing).
  ASSERT_TRUE(
      testing::WaitFor([&] { return server.accept_failures() >= 1; }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t failures = server.accept_failures();
  for (int fd : fillers) close(fd);
  setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_GE(failures, 1u);
  EXPECT_LE(failures, 10u) << "accept loop spun instead of pausing";

  const std::string request = "GET /hello HTTP/1.0\r\n\r\n";
  ASSERT_EQ(send(client, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  timeval timeout{5, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string response;
  char buf[512];
  for (ssize_t n; (n = recv(client, buf, sizeof(buf), 0)) > 0;) response.append(buf, n);
  close(client);
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
  server.Stop();
}

}  // namespace
}  // namespace zerotrace
