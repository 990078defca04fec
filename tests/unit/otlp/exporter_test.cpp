#include "otlp/otlp_trace_exporter.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "test_otlp_receiver.h"
#include "test_spans.h"
#include "test_util.h"

namespace zerotrace::otlp {
namespace {

using std::chrono::milliseconds;
using testing::MakeSimpleSpan;
using testing::TestOtlpReceiver;

OtlpExporterOptions FastOptions(const TestOtlpReceiver& rx) {
  OtlpExporterOptions o;
  o.endpoint = rx.base_url();
  o.max_batch_size = 4;
  o.max_queue_size = 64;
  o.max_export_delay = milliseconds(10'000);  // batches go out when full or flushed
  o.initial_backoff = milliseconds(10);
  o.max_backoff = milliseconds(40);
  o.max_retries = 3;
  o.timeout = milliseconds(2'000);
  return o;
}

TEST(OtlpTraceExporterTest, BatchesBySizeAndFlush) {
  TestOtlpReceiver rx;
  ASSERT_TRUE(rx.Start());
  OtlpExporterOptions o = FastOptions(rx);
  o.headers = {{"X-Api-Key", "k1"}};
  o.service_name = "from-env";
  OtlpTraceExporter exp(o, tracing::Resource::ForProcess("", "node-1", 0, ""));
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(exp.Export(MakeSimpleSpan(i)));
  ASSERT_TRUE(rx.WaitForRequests(2, milliseconds(5'000)));
  ASSERT_TRUE(exp.Export(MakeSimpleSpan(8)));
  ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  ASSERT_EQ(rx.request_count(), 3u);
  auto reqs = rx.requests();
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/v1/traces");
    EXPECT_EQ(r.headers.at("content-type"), "application/x-protobuf");
    EXPECT_EQ(r.headers.at("x-api-key"), "k1");
    EXPECT_EQ(r.headers.count("content-encoding"), 0u);
  }
  auto first = TestOtlpReceiver::Decode(reqs[0]);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(TestOtlpReceiver::SpanCount(*first), 4u);
  EXPECT_EQ(TestOtlpReceiver::SpanCount(*TestOtlpReceiver::Decode(reqs[1])), 4u);
  EXPECT_EQ(TestOtlpReceiver::SpanCount(*TestOtlpReceiver::Decode(reqs[2])), 1u);
  const auto& attrs = first->resource_spans(0).resource().attributes();
  bool service = false;
  for (const auto& kv : attrs) {
    service |= kv.key() == "service.name" && kv.value().string_value() == "from-env";
  }
  EXPECT_TRUE(service);
  auto c = exp.counters();
  EXPECT_EQ(c.spans_exported, 9u);
  EXPECT_EQ(c.requests_success, 3u);
  EXPECT_EQ(c.spans_dropped_queue_full + c.spans_dropped_export_failed, 0u);
}

TEST(OtlpTraceExporterTest, SendsPartialBatchAfterDelay) {
  TestOtlpReceiver rx;
  ASSERT_TRUE(rx.Start());
  OtlpExporterOptions o = FastOptions(rx);
  o.max_export_delay = milliseconds(100);
  OtlpTraceExporter exp(o);
  ASSERT_TRUE(exp.Export(MakeSimpleSpan(1)));
  ASSERT_TRUE(exp.Export(MakeSimpleSpan(2)));
  ASSERT_TRUE(rx.WaitForRequests(1, milliseconds(3'000)));
  EXPECT_EQ(rx.accepted_spans(), 2u);
}

TEST(OtlpTraceExporterTest, GzipAndJson) {
  TestOtlpReceiver rx;
  ASSERT_TRUE(rx.Start());
  {
    OtlpExporterOptions o = FastOptions(rx);
    o.compression = OtlpCompression::kGzip;
    OtlpTraceExporter exp(o);
    for (int i = 0; i < 4; ++i) exp.Export(MakeSimpleSpan(i));
    ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  }
  {
    OtlpExporterOptions o = FastOptions(rx);
    o.compression = OtlpCompression::kGzip;
    o.encoding = OtlpEncoding::kJson;
    OtlpTraceExporter exp(o);
    for (int i = 0; i < 2; ++i) exp.Export(MakeSimpleSpan(i));
    ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  }
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].headers.at("content-encoding"), "gzip");
  EXPECT_EQ(static_cast<uint8_t>(reqs[0].body[0]), 0x1f);
  auto decoded = TestOtlpReceiver::Decode(reqs[0]);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(TestOtlpReceiver::SpanCount(*decoded), 4u);

  EXPECT_EQ(reqs[1].headers.at("content-type"), "application/json");
  EXPECT_EQ(reqs[1].headers.at("content-encoding"), "gzip");
  auto body = TestOtlpReceiver::Body(reqs[1]);
  ASSERT_TRUE(body.has_value());
  auto j = nlohmann::json::parse(*body);
  const auto& spans = j["resourceSpans"][0]["scopeSpans"][0]["spans"];
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0]["spanId"].get<std::string>().size(), 16u);
  EXPECT_EQ(spans[0]["kind"], 3);
}

TEST(OtlpTraceExporterTest, RetriesAfter503HonouringRetryAfter) {
  TestOtlpReceiver rx;
  rx.set_responder([](const TestOtlpReceiver::Request&, size_t index) {
    TestOtlpReceiver::Reply r;
    if (index == 0) r = {503, {{"Retry-After", "1"}}};
    return r;
  });
  ASSERT_TRUE(rx.Start());
  OtlpTraceExporter exp(FastOptions(rx));
  for (int i = 0; i < 4; ++i) exp.Export(MakeSimpleSpan(i));
  ASSERT_TRUE(rx.WaitForRequests(2, milliseconds(5'000)));
  auto reqs = rx.requests();
  auto gap = std::chrono::duration_cast<milliseconds>(reqs[1].at - reqs[0].at);
  EXPECT_GE(gap.count(), 950) << "Retry-After: 1 not honoured (backoff alone is <= 40 ms)";
  EXPECT_EQ(reqs[0].body, reqs[1].body);  // same batch re-sent
  ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  auto c = exp.counters();
  EXPECT_EQ(c.requests_retryable_failure, 1u);
  EXPECT_EQ(c.requests_success, 1u);
  EXPECT_EQ(c.spans_exported, 4u);
  EXPECT_EQ(rx.accepted_spans(), 4u);
}

TEST(OtlpTraceExporterTest, NonRetryableErrorDropsBatch) {
  TestOtlpReceiver rx;
  rx.set_responder([](const TestOtlpReceiver::Request&, size_t) {
    return TestOtlpReceiver::Reply{400, {}};
  });
  ASSERT_TRUE(rx.Start());
  OtlpTraceExporter exp(FastOptions(rx));
  for (int i = 0; i < 4; ++i) exp.Export(MakeSimpleSpan(i));
  ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  auto c = exp.counters();
  EXPECT_EQ(rx.request_count(), 1u);
  EXPECT_EQ(c.requests_failure, 1u);
  EXPECT_EQ(c.spans_dropped_export_failed, 4u);
}

// An unreachable or refusing collector shows in the log (once, with what was dropped), not only
// in counters; and its recovery is logged too.
TEST(OtlpTraceExporterTest, FailuresAndRecoveryAreLoggedOnce) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  std::atomic<bool> refuse{true};
  TestOtlpReceiver rx;
  rx.set_responder([&](const TestOtlpReceiver::Request&, size_t) {
    return refuse ? TestOtlpReceiver::Reply{400, {}, "bad tenant"}
                  : TestOtlpReceiver::Reply{200, {}};
  });
  ASSERT_TRUE(rx.Start());
  {
    OtlpTraceExporter exp(FastOptions(rx));
    for (int i = 0; i < 8; ++i) exp.Export(MakeSimpleSpan(i));  // two batches, both refused
    ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
    refuse = false;
    for (int i = 0; i < 4; ++i) exp.Export(MakeSimpleSpan(i));
    ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  }
  spdlog::set_default_logger(previous);
  const std::string text = log.str();
  const size_t first = text.find("failed: HTTP 400: bad tenant; 4 span(s) in 1 batch(es) dropped");
  EXPECT_NE(first, std::string::npos) << text;
  EXPECT_NE(text.find(rx.base_url()), std::string::npos) << text;
  EXPECT_EQ(text.find("failed:", first + 1), std::string::npos) << "logged twice: " << text;
  EXPECT_NE(text.find("4 more span(s) dropped before it recovered"), std::string::npos) << text;
  EXPECT_NE(text.find("works again"), std::string::npos) << text;
}

TEST(OtlpTraceExporterTest, PartialSuccessCountsRejectedSpans) {
  TestOtlpReceiver rx;
  rx.set_responder([](const TestOtlpReceiver::Request&, size_t) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse resp;
    resp.mutable_partial_success()->set_rejected_spans(3);
    resp.mutable_partial_success()->set_error_message("too old");
    return TestOtlpReceiver::Reply{200, {}, resp.SerializeAsString()};
  });
  ASSERT_TRUE(rx.Start());
  OtlpTraceExporter exp(FastOptions(rx));
  for (int i = 0; i < 4; ++i) exp.Export(MakeSimpleSpan(i));
  ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  auto c = exp.counters();
  EXPECT_EQ(c.requests_success, 1u);
  EXPECT_EQ(c.spans_exported, 1u);
  EXPECT_EQ(c.spans_dropped_export_failed, 3u);
}

TEST(OtlpTraceExporterTest, ReceiverDownQueueBoundedThenResumes) {
  TestOtlpReceiver rx;
  ASSERT_TRUE(rx.Start());
  uint16_t port = rx.port();
  rx.Stop();  // connection refused from now on

  prometheus::Registry registry;
  OtlpExporterOptions o = FastOptions(rx);
  o.max_queue_size = 10;
  o.max_retries = 2;
  OtlpTraceExporter exp(o, {}, &registry);
  int accepted = 0;
  for (int i = 0; i < 40; ++i) {
    accepted += exp.Export(MakeSimpleSpan(i)) ? 1 : 0;
    EXPECT_LE(exp.counters().queue_size, 10u);
  }
  // Until a batch has exhausted its retries (a condition, not a guess at how long that takes).
  ASSERT_TRUE(zerotrace::testing::WaitFor(
      [&] {
        const auto c = exp.counters();
        return c.spans_dropped_export_failed > 0 && c.requests_retryable_failure > 0;
      },
      milliseconds(20'000)));
  auto down = exp.counters();
  EXPECT_GT(down.spans_dropped_queue_full, 0u);
  EXPECT_GT(down.spans_dropped_export_failed, 0u);
  EXPECT_GT(down.requests_retryable_failure, 0u);
  EXPECT_EQ(down.spans_exported, 0u);
  EXPECT_EQ(static_cast<uint64_t>(accepted) + down.spans_dropped_queue_full, 40u);

  ASSERT_TRUE(rx.Start(port));  // receiver back
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(exp.Export(MakeSimpleSpan(100 + i)));
  ASSERT_TRUE(exp.ForceFlush(milliseconds(5'000)));
  auto up = exp.counters();
  EXPECT_GE(up.spans_exported, 4u);
  EXPECT_EQ(rx.accepted_spans(), up.spans_exported);
  exp.Shutdown();
  auto end = exp.counters();
  // Every span is accounted for exactly once.
  EXPECT_EQ(end.spans_exported + end.spans_dropped_queue_full + end.spans_dropped_export_failed +
                end.spans_dropped_shutdown,
            44u);

  // The same numbers through Prometheus.
  double exported = -1, queue_full = -1, retryable = -1;
  for (const auto& family : registry.Collect()) {
    for (const auto& m : family.metric) {
      if (family.name == "zerotrace_spans_exported_total") exported = m.counter.value;
      for (const auto& l : m.label) {
        if (family.name == "zerotrace_spans_dropped_total" && l.value == "queue_full") {
          queue_full = m.counter.value;
        }
        if (family.name == "zerotrace_otlp_export_requests_total" &&
            l.value == "retryable_failure") {
          retryable = m.counter.value;
        }
      }
    }
  }
  EXPECT_EQ(exported, static_cast<double>(end.spans_exported));
  EXPECT_EQ(queue_full, static_cast<double>(end.spans_dropped_queue_full));
  EXPECT_EQ(retryable, static_cast<double>(end.requests_retryable_failure));
}

TEST(OtlpTraceExporterTest, ShutdownIsBounded) {
  TestOtlpReceiver rx;
  ASSERT_TRUE(rx.Start());
  uint16_t port = rx.port();
  rx.Stop();
  OtlpExporterOptions o = FastOptions(rx);
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
  o.initial_backoff = milliseconds(10'000);  // would wait far longer than the bound
  o.max_backoff = milliseconds(10'000);
  o.max_retries = 10;
  o.shutdown_timeout = milliseconds(60'000);  // clamped to 2 s
  auto exp = std::make_unique<OtlpTraceExporter>(o);
  for (int i = 0; i < 12; ++i) exp->Export(MakeSimpleSpan(i));
  // Until the first batch's first attempt has failed: it is then in its 10 s backoff.
  ASSERT_TRUE(zerotrace::testing::WaitFor(
      [&] { return exp->counters().requests_retryable_failure > 0; }, milliseconds(20'000)));
  auto t0 = std::chrono::steady_clock::now();
  exp->Shutdown();
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, milliseconds(2'600));
  auto c = exp->counters();
  EXPECT_EQ(c.spans_dropped_shutdown + c.spans_dropped_export_failed, 12u);
  EXPECT_GT(c.spans_dropped_shutdown, 0u);
  EXPECT_FALSE(exp->Export(MakeSimpleSpan(99)));  // after shutdown
  EXPECT_EQ(exp->counters().spans_dropped_shutdown, c.spans_dropped_shutdown + 1);
}

TEST(OtlpTraceExporterTest, ShutdownFlushesQueuedSpans) {
  TestOtlpReceiver rx;
  ASSERT_TRUE(rx.Start());
  OtlpTraceExporter exp(FastOptions(rx));
  for (int i = 0; i < 3; ++i) exp.Export(MakeSimpleSpan(i));  // below batch size, long delay
  exp.Shutdown();
  EXPECT_EQ(rx.accepted_spans(), 3u);
  EXPECT_EQ(exp.counters().spans_exported, 3u);
}

}  // namespace
}  // namespace zerotrace::otlp
