#include <gtest/gtest.h>

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

}  // namespace
}  // namespace zerotrace
