// What clients send must not blow up metric cardinality or break the exposition: methods,
// routes, gRPC names and text fields as they leave the parsers (FinalizeLabels).
#include "protocols/common/record_labels.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "protocols/http1/http1_parser.h"
#include "test_util.h"

namespace zerotrace::protocols {
namespace {

using testing::Bytes;

bool IsValidUtf8(const std::string& s) {
  std::string copy = s;
  MakeValidUtf8(&copy);
  return copy == s;
}

// One HTTP/1 exchange through the parser with a shared route table.
RequestRecord Exchange(RouteTemplater& routes, const std::string& request_line, int status) {
  Http1Parser::Options options;
  options.templater = &routes;
  Http1Parser parser(options);
  VectorSink sink;
  const std::string req = request_line + "\r\nHost: h\r\n\r\n";
  const std::string resp = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
  parser.Feed(true, 100, Bytes(req), req.size(), sink);
  parser.Feed(false, 200, Bytes(resp), resp.size(), sink);
  EXPECT_EQ(sink.records.size(), 1u) << request_line;
  return sink.records.empty() ? RequestRecord{} : sink.records[0];
}

TEST(RecordLabelsTest, UnregisteredMethodsBecomeOther) {
  RouteTemplater routes;
  std::set<std::string> methods;
  for (int i = 0; i < 50; ++i) {
    const std::string method = {'Z', static_cast<char>('A' + i % 26),
                                static_cast<char>('A' + i / 26)};
    methods.insert(Exchange(routes, method + " / HTTP/1.1", 405).method);
  }
  EXPECT_EQ(methods, (std::set<std::string>{"_OTHER"}));
  EXPECT_EQ(Exchange(routes, "PATCH /a HTTP/1.1", 200).method, "PATCH");
}

TEST(RecordLabelsTest, InvalidUtf8NeverLeavesTheParser) {
  RouteTemplater routes;
  auto r = Exchange(routes, "GET /caf\xe9/\xc0\xaf/ok HTTP/1.1", 404);
  EXPECT_TRUE(IsValidUtf8(r.path)) << r.path;
  EXPECT_TRUE(IsValidUtf8(r.route)) << r.route;
  // Well-formed multi-byte text is kept as is.
  auto ok = Exchange(routes, "GET /caf\xc3\xa9 HTTP/1.1", 200);
  EXPECT_EQ(ok.route, "/caf\xc3\xa9");
  std::string s = "a\xed\xa0\x80z\xf4\x90\x80\x80";  // a surrogate and a code point > U+10FFFF
  MakeValidUtf8(&s);
  EXPECT_EQ(
      s, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(RecordLabelsTest, LabelValuesAreBoundedOnACharacterBoundary) {
  RouteTemplater routes;
  // 1,000 two-byte characters: "/ééé…" with no id-like segment, so the route is the path.
  std::string path = "/";
  for (int i = 0; i < 1000; ++i) path += "\xc3\xa9";
  auto r = Exchange(routes, "GET " + path + " HTTP/1.1", 200);
  EXPECT_LE(r.route.size(), kMaxLabelValueBytes);
  EXPECT_TRUE(IsValidUtf8(r.route));
  EXPECT_EQ(r.route.substr(r.route.size() - 3), "\xE2\x80\xA6");
  EXPECT_EQ(r.route.substr(0, 3), "/\xc3\xa9");
  std::string exact(kMaxLabelValueBytes, 'a');
  BoundLabelValue(&exact);
  EXPECT_EQ(exact, std::string(kMaxLabelValueBytes, 'a'));  // at the bound: untouched
  std::string tiny = "abcdef";
  BoundLabelValue(&tiny, 2);
  EXPECT_EQ(tiny, "ab");  // no room for the mark
}

// A scanner probing missing paths must not take the route table from the real routes: 404s may
// name routes (users want to see /missing), but only a quarter of the table.
TEST(RecordLabelsTest, MissingPathsTakeAtMostAQuarterOfTheRoutes) {
  RouteTemplater routes(8);
  EXPECT_EQ(Exchange(routes, "GET /missing HTTP/1.1", 404).route, "/missing");
  for (int i = 0; i < 20; ++i) {
    Exchange(routes, "GET /wp-admin/x" + std::to_string(i) + "a HTTP/1.1", 404);
  }
  EXPECT_EQ(routes.size(), 2u);  // 8 / 4
  EXPECT_EQ(Exchange(routes, "GET /wp-admin/new HTTP/1.1", 404).route, "other");
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(Exchange(routes, "GET /api/r" + std::string(1, 'a' + i) + " HTTP/1.1", 200).route,
              "/api/r" + std::string(1, 'a' + i));
  }
  EXPECT_EQ(routes.size(), 8u);
  // A known route keeps its name on a 404 (user not found).
  EXPECT_EQ(Exchange(routes, "GET /api/ra HTTP/1.1", 404).route, "/api/ra");
}

TEST(RecordLabelsTest, GrpcNamesFollowTheRouteBound) {
  RouteTemplater routes(1);
  RequestRecord a;
  a.parsed_ok = true;
  a.method = "POST";
  a.path = "/pkg.A/Call";
  a.rpc_service = "pkg.A";
  a.rpc_method = "Call";
  a.grpc_status = 0;
  FinalizeLabels(a, &routes);
  EXPECT_EQ(a.rpc_service, "pkg.A");
  RequestRecord b = a;
  b.path = "/pkg.B/Other";
  b.rpc_service = "pkg.B";
  b.rpc_method = "Other";
  FinalizeLabels(b, &routes);
  EXPECT_EQ(b.route, "other");
  EXPECT_EQ(b.rpc_service, "other");
  EXPECT_EQ(b.rpc_method, "other");
  // UNIMPLEMENTED names nothing that exists: like a 404, only a quarter of the table.
  RouteTemplater fresh(4);
  for (const char* m : {"/pkg.X/A", "/pkg.X/B"}) {
    RequestRecord c = a;
    c.path = m;
    c.grpc_status = 12;
    FinalizeLabels(c, &fresh);
    if (std::string(m) == "/pkg.X/B") {
      EXPECT_EQ(c.rpc_method, "other");
    }
  }
  EXPECT_EQ(fresh.size(), 1u);
}

}  // namespace
}  // namespace zerotrace::protocols
