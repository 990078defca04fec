#include "tracing/thread_span_context.h"

#include <gtest/gtest.h>

namespace zerotrace::tracing {
namespace {

TEST(ThreadSpanContextTest, ClientWithinServerBecomesChild) {
  ThreadSpanContext reg;
  IdGenerator ids(1);
  auto server = reg.BeginServerSpan(100, 101, 1'000, std::nullopt, ids);
  EXPECT_TRUE(server.context.IsValid());
  EXPECT_FALSE(server.parent_span_id.has_value());
  // The client record arrives while the server request is still open...
  auto parent = reg.FindParent(100, 101, 1'500);
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(parent->span_id, server.context.span_id);
  EXPECT_EQ(parent->trace_id, server.context.trace_id);
  // ... or after it ended (the server response is written last).
  EXPECT_TRUE(reg.EndServerSpan(100, 101, server.context.span_id, 2'000));
  parent = reg.FindParent(100, 101, 1'999);
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(parent->span_id, server.context.span_id);
  // Outside [t0, t1], other threads, other processes: no parent.
  EXPECT_FALSE(reg.FindParent(100, 101, 999).has_value());
  EXPECT_FALSE(reg.FindParent(100, 101, 2'001).has_value());
  EXPECT_FALSE(reg.FindParent(100, 102, 1'500).has_value());
  EXPECT_FALSE(reg.FindParent(200, 101, 1'500).has_value());
}

TEST(ThreadSpanContextTest, IncomingTraceparentIsContinued) {
  ThreadSpanContext reg;
  IdGenerator ids(2);
  auto incoming = ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                   "congo=t61rcWkgMzE");
  ASSERT_TRUE(incoming.has_value());
  auto server = reg.BeginServerSpan(1, 1, 10, incoming, ids);
  EXPECT_EQ(server.context.trace_id, incoming->trace_id);
  EXPECT_NE(server.context.span_id, incoming->span_id);
  ASSERT_TRUE(server.parent_span_id.has_value());
  EXPECT_EQ(*server.parent_span_id, incoming->span_id);
  EXPECT_EQ(server.context.trace_state, "congo=t61rcWkgMzE");
  auto parent = reg.FindParent(1, 1, 11);
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(parent->trace_id, incoming->trace_id);
  EXPECT_EQ(parent->span_id, server.context.span_id);
}

TEST(ThreadSpanContextTest, SequentialRequestsOnOneThread) {
  ThreadSpanContext reg;
  IdGenerator ids(3);
  auto a = reg.BeginServerSpan(1, 2, 100, std::nullopt, ids);
  reg.EndServerSpan(1, 2, a.context.span_id, 200);
  auto b = reg.BeginServerSpan(1, 2, 300, std::nullopt, ids);
  reg.EndServerSpan(1, 2, b.context.span_id, 400);
  EXPECT_EQ(reg.FindParent(1, 2, 150)->span_id, a.context.span_id);
  EXPECT_EQ(reg.FindParent(1, 2, 350)->span_id, b.context.span_id);
  EXPECT_FALSE(reg.FindParent(1, 2, 250).has_value());
}

// Keep-alive: the next request on a connection begins before the previous one's end was
// reported (events of two CPUs merged late): the previous one ended there; no concurrency.
// Two requests begun by the same read on one connection (pipelining) are ambiguous.
TEST(ThreadSpanContextTest, NextRequestOnAConnectionEndsThePreviousOne) {
  ThreadSpanContext reg;
  IdGenerator ids(6);
  auto a = reg.BeginServerSpan(1, 2, 100, std::nullopt, ids, /*conn=*/7);
  auto b = reg.BeginServerSpan(1, 2, 300, std::nullopt, ids, /*conn=*/7);
  reg.EndServerSpan(1, 2, a.context.span_id, 250);  // reported late: ignored, a ended at 300
  EXPECT_FALSE(reg.ServesConcurrently(1, 2));
  EXPECT_EQ(reg.FindParent(1, 2, 200)->span_id, a.context.span_id);
  EXPECT_EQ(reg.FindParent(1, 2, 350)->span_id, b.context.span_id);
  reg.BeginServerSpan(1, 3, 100, std::nullopt, ids, /*conn=*/8);
  reg.BeginServerSpan(1, 3, 100, std::nullopt, ids, /*conn=*/8);
  EXPECT_TRUE(reg.ServesConcurrently(1, 3));
}

// An event loop (or a request whose end was missed): a call made while two requests are open
// on the thread may belong to either, so the thread parents nothing from then on, even once it
// serves one request at a time again. Other threads of the process are not affected.
TEST(ThreadSpanContextTest, AThreadServingTwoRequestsAtOnceParentsNothing) {
  ThreadSpanContext reg;
  IdGenerator ids(4);
  auto a = reg.BeginServerSpan(1, 2, 100, std::nullopt, ids);
  EXPECT_EQ(reg.FindParent(1, 2, 150)->span_id, a.context.span_id);
  EXPECT_FALSE(reg.ServesConcurrently(1, 2));
  auto b = reg.BeginServerSpan(1, 2, 300, std::nullopt, ids);
  EXPECT_TRUE(reg.ServesConcurrently(1, 2));
  EXPECT_FALSE(reg.FindParent(1, 2, 200).has_value());
  EXPECT_FALSE(reg.FindParent(1, 2, 350).has_value());
  reg.EndServerSpan(1, 2, a.context.span_id, 400);
  reg.EndServerSpan(1, 2, b.context.span_id, 500);
  reg.BeginServerSpan(1, 2, 600, std::nullopt, ids);
  EXPECT_FALSE(reg.FindParent(1, 2, 650).has_value());
  auto c = reg.BeginServerSpan(1, 3, 600, std::nullopt, ids);
  EXPECT_FALSE(reg.ServesConcurrently(1, 3));
  EXPECT_EQ(reg.FindParent(1, 3, 650)->span_id, c.context.span_id);
  // Known while the process lives, even with no span left to remember.
  reg.Expire(1'000'000'000'000ull);
  EXPECT_TRUE(reg.ServesConcurrently(1, 2));
  reg.ForgetProcess(1);
  EXPECT_FALSE(reg.ServesConcurrently(1, 2));
}

TEST(ThreadSpanContextTest, BoundedAndExpiring) {
  ThreadSpanContext reg(
      {.max_threads = 2, .max_spans_per_thread = 2, .retention_ns = 1'000, .max_open_ns = 10'000});
  IdGenerator ids(5);
  for (uint64_t t = 0; t < 5; ++t) {
    auto h = reg.BeginServerSpan(1, 1, t * 10, std::nullopt, ids);
    reg.EndServerSpan(1, 1, h.context.span_id, t * 10 + 5);
  }
  EXPECT_FALSE(reg.FindParent(1, 1, 2).has_value());  // evicted (only 2 kept per thread)
  EXPECT_TRUE(reg.FindParent(1, 1, 42).has_value());
  reg.BeginServerSpan(1, 2, 50, std::nullopt, ids);
  reg.BeginServerSpan(1, 3, 50, std::nullopt, ids);  // third thread: over max_threads
  EXPECT_EQ(reg.thread_count(), 2u);
  EXPECT_EQ(reg.skipped_threads(), 1u);
  reg.Expire(100'000);  // everything ended long ago or open too long
  EXPECT_EQ(reg.thread_count(), 0u);
}

TEST(ThreadSpanContextTest, ForgetProcess) {
  ThreadSpanContext reg;
  IdGenerator ids(6);
  reg.BeginServerSpan(7, 1, 1, std::nullopt, ids);
  reg.BeginServerSpan(7, 2, 1, std::nullopt, ids);
  reg.BeginServerSpan(8, 1, 1, std::nullopt, ids);
  reg.ForgetProcess(7);
  EXPECT_EQ(reg.thread_count(), 1u);
  EXPECT_TRUE(reg.FindParent(8, 1, 2).has_value());
}

}  // namespace
}  // namespace zerotrace::tracing
