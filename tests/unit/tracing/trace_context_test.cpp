#include "tracing/trace_context.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace zerotrace::tracing {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceParentTest, ParsesValid) {
  auto ctx = ParseTraceParent(kValid, "congo=t61rcWkgMzE");
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(ToHex(ctx->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ToHex(ctx->span_id), "00f067aa0ba902b7");
  EXPECT_EQ(ctx->trace_flags, 0x01);
  EXPECT_TRUE(ctx->sampled());
  EXPECT_EQ(ctx->trace_state, "congo=t61rcWkgMzE");
}

TEST(TraceParentTest, NotSampledFlag) {
  auto ctx = ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(ctx.has_value());
  EXPECT_FALSE(ctx->sampled());
}

TEST(TraceParentTest, FormatRoundTrip) {
  auto ctx = ParseTraceParent(kValid);
  ASSERT_TRUE(ctx.has_value());
  EXPECT_EQ(FormatTraceParent(*ctx), kValid);
}

TEST(TraceParentTest, ToleratesSurroundingWhitespace) {
  EXPECT_TRUE(ParseTraceParent(std::string(" \t") + kValid + " ").has_value());
}

TEST(TraceParentTest, RejectsInvalid) {
  const char* bad[] = {
      "",
      "00",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // no flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",      // short flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",    // v00 with extra
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",  // v00 with extra field
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // bad separator
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",     // non-hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",     // non-hex flags
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // non-hex version
      "00-4bf92f3577b34da6a3ce929d0e0e47361-0f067aa0ba902b7-01",     // shifted fields
  };
  for (const char* s : bad) EXPECT_FALSE(ParseTraceParent(s).has_value()) << s;
}

TEST(TraceParentTest, RejectsUppercase) {
  EXPECT_FALSE(
      ParseTraceParent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01").has_value());
  EXPECT_FALSE(
      ParseTraceParent("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
}

TEST(TraceParentTest, RejectsVersionFF) {
  EXPECT_FALSE(
      ParseTraceParent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
}

TEST(TraceParentTest, RejectsAllZeroIds) {
  EXPECT_FALSE(
      ParseTraceParent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").has_value());
  EXPECT_FALSE(
      ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").has_value());
}

TEST(TraceParentTest, FutureVersionAcceptsExtraFields) {
  auto a = ParseTraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(a.has_value());
  auto b = ParseTraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(ToHex(b->span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(b->sampled());
  // ... but the extra data must be '-' separated.
  EXPECT_FALSE(
      ParseTraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.x").has_value());
  // Formatting always writes version 00.
  EXPECT_EQ(FormatTraceParent(*b).substr(0, 3), "00-");
}

TEST(TraceStateTest, PassthroughAndTrim) {
  EXPECT_EQ(SanitizeTraceState("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE"),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(SanitizeTraceState(" a=1 ,, b=2 "), "a=1,b=2");
  EXPECT_EQ(SanitizeTraceState(""), "");
}

TEST(TraceStateTest, Bounded) {
  std::string many;
  for (int i = 0; i < 40; ++i) many += (i ? "," : "") + std::string("k") + std::to_string(i) + "=v";
  std::string s = SanitizeTraceState(many);
  size_t members = std::count(s.begin(), s.end(), ',') + 1;
  EXPECT_EQ(members, kMaxTraceStateMembers);

  std::string longs;
  for (int i = 0; i < 10; ++i) longs += (i ? "," : "") + std::string("k=") + std::string(100, 'x');
  std::string t = SanitizeTraceState(longs);
  EXPECT_LE(t.size(), kMaxTraceStateLength);
  EXPECT_EQ(t.size() % 103, 102u);  // whole members only
}

}  // namespace
}  // namespace zerotrace::tracing
