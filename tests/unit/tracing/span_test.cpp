#include "tracing/span.h"

#include <gtest/gtest.h>

namespace zerotrace::tracing {
namespace {

TEST(SpanIdsTest, HexRoundTrip) {
  auto tid = TraceIdFromHex("4bf92f3577b34da6a3ce929d0e0e4736");
  ASSERT_TRUE(tid.has_value());
  EXPECT_EQ(ToHex(*tid), "4bf92f3577b34da6a3ce929d0e0e4736");
  auto sid = SpanIdFromHex("00f067aa0ba902b7");
  ASSERT_TRUE(sid.has_value());
  EXPECT_EQ(ToHex(*sid), "00f067aa0ba902b7");
  EXPECT_TRUE(IsValid(*tid));
  EXPECT_FALSE(IsValid(TraceId{}));
  EXPECT_FALSE(IsValid(SpanId{}));
}

TEST(SpanIdsTest, RejectsBadHex) {
  EXPECT_FALSE(TraceIdFromHex("4BF92F3577B34DA6A3CE929D0E0E4736").has_value());  // uppercase
  EXPECT_FALSE(TraceIdFromHex("4bf92f3577b34da6a3ce929d0e0e473").has_value());   // short
  EXPECT_FALSE(SpanIdFromHex("00f067aa0ba902bz").has_value());
}

TEST(AttributeListTest, TypedValuesAndReplace) {
  AttributeList a;
  a.Set("s", "text");  // const char* must not become bool
  a.Set("b", true);
  a.Set("i", int64_t{-42});
  a.Set("i32", 7);
  a.Set("d", 1.5);
  a.Set("arr", std::vector<std::string>{"x", "y"});
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(std::get<std::string>(*a.Find("s")), "text");
  EXPECT_TRUE(std::get<bool>(*a.Find("b")));
  EXPECT_EQ(std::get<int64_t>(*a.Find("i")), -42);
  EXPECT_EQ(std::get<int64_t>(*a.Find("i32")), 7);
  EXPECT_DOUBLE_EQ(std::get<double>(*a.Find("d")), 1.5);
  EXPECT_EQ(std::get<std::vector<std::string>>(*a.Find("arr")).size(), 2u);
  a.Set("s", "other");
  EXPECT_EQ(a.size(), 6u);
  EXPECT_EQ(std::get<std::string>(*a.Find("s")), "other");
  EXPECT_TRUE(a.Remove("s"));
  EXPECT_EQ(a.Find("s"), nullptr);
}

TEST(ResourceTest, ForProcessAndK8s) {
  Resource r = Resource::ForProcess("checkout", "node-1", 1234, "python3");
  r.SetK8s("pod.name", "checkout-7d9");
  r.SetK8s("namespace.name", "");
  EXPECT_EQ(std::get<std::string>(*r.attributes.Find("service.name")), "checkout");
  EXPECT_EQ(std::get<std::string>(*r.attributes.Find("host.name")), "node-1");
  EXPECT_EQ(std::get<int64_t>(*r.attributes.Find("process.pid")), 1234);
  EXPECT_EQ(std::get<std::string>(*r.attributes.Find("process.executable.name")), "python3");
  EXPECT_EQ(std::get<std::string>(*r.attributes.Find("k8s.pod.name")), "checkout-7d9");
  EXPECT_EQ(r.attributes.Find("k8s.namespace.name"), nullptr);
}

}  // namespace
}  // namespace zerotrace::tracing
