#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

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
