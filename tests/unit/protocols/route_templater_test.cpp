#include "protocols/common/route_templater.h"

#include <gtest/gtest.h>

#include <string>

namespace zerotrace::protocols {
namespace {

std::string T(std::string_view p) {
  std::string out;
  TemplatePath(p, &out);
  return out;
}

TEST(RouteTemplaterTest, TemplatesIdLikeSegments) {
  EXPECT_EQ(T("/users/123"), "/users/{id}");
  EXPECT_EQ(T("/users/123/orders/456"), "/users/{id}/orders/{id}");
  EXPECT_EQ(T("/items/550e8400-e29b-41d4-a716-446655440000"), "/items/{id}");
  EXPECT_EQ(T("/blobs/deadbeef01"), "/blobs/{id}");
  EXPECT_EQ(T("/commits/a1b2c3d4e5f6a7b8c9d0"), "/commits/{id}");
  EXPECT_EQ(T("/"), "/");
  EXPECT_EQ(T(""), "");
}

TEST(RouteTemplaterTest, KeepsWordsAndShortHex) {
  EXPECT_EQ(T("/api/v1/health"), "/api/v1/health");
  EXPECT_EQ(T("/static/facade"), "/static/facade");      // hex letters but no digit
  EXPECT_EQ(T("/static/deadbeefcafe"), "/static/deadbeefcafe");
  EXPECT_EQ(T("/x/abc123"), "/x/abc123");                 // < 8 chars
  EXPECT_EQ(T("/a//b/"), "/a//b/");
}

TEST(RouteTemplaterTest, DropsQueryAndFragment) {
  EXPECT_EQ(T("/search?q=secret&token=1"), "/search");
  EXPECT_EQ(T("/page/7#section"), "/page/{id}");
  EXPECT_EQ(StripQuery("/a?b"), "/a");
}

TEST(RouteTemplaterTest, BoundedCardinality) {
  RouteTemplater t(3);
  std::string out;
  t.Route("/a", &out);
  EXPECT_EQ(out, "/a");
  t.Route("/b/1", &out);
  EXPECT_EQ(out, "/b/{id}");
  t.Route("/b/2", &out);  // same route, no new slot
  EXPECT_EQ(out, "/b/{id}");
  t.Route("/c", &out);
  EXPECT_EQ(out, "/c");
  t.Route("/d", &out);
  EXPECT_EQ(out, "other");
  t.Route("/a?x=1", &out);  // known routes keep working
  EXPECT_EQ(out, "/a");
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.overflowed(), 1u);
}

TEST(RouteTemplaterTest, DefaultIsHundred) {
  RouteTemplater t;
  std::string out;
  for (int i = 0; i < 150; ++i) t.Route("/route" + std::string(1, 'a' + i % 26) +
                                        std::string(i / 26 + 1, 'x'), &out);
  EXPECT_EQ(t.size(), 100u);
  EXPECT_EQ(out, "other");
}

}  // namespace
}  // namespace zerotrace::protocols
