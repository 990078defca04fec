#include "otlp/otlp_encoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "test_spans.h"

namespace zerotrace::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
using testing::MakeResource;
using testing::MakeRichSpan;
using testing::MakeSimpleSpan;

const common::AnyValue* FindAttr(const google::protobuf::RepeatedPtrField<common::KeyValue>& kvs,
                                 const std::string& key) {
  for (const auto& kv : kvs) {
    if (kv.key() == key) return &kv.value();
  }
  return nullptr;
}

// Encode → serialize → parse back with the generated classes.
ExportTraceServiceRequest RoundTrip(const std::vector<tracing::Span>& spans,
                                    const tracing::Resource& def = {},
                                    const EncodeOptions& opts = {}) {
  std::string bytes = BuildExportRequest(spans, def, opts).SerializeAsString();
  ExportTraceServiceRequest decoded;
  EXPECT_TRUE(decoded.ParseFromString(bytes));
  return decoded;
}

TEST(OtlpEncoderTest, EveryFieldAndAttributeType) {
  auto span = MakeRichSpan();
  span.resource = MakeResource("checkout", 4242);
  auto req = RoundTrip({span});
  ASSERT_EQ(req.resource_spans_size(), 1);
  const auto& rs = req.resource_spans(0);
  EXPECT_EQ(FindAttr(rs.resource().attributes(), "service.name")->string_value(), "checkout");
  EXPECT_EQ(FindAttr(rs.resource().attributes(), "process.pid")->int_value(), 4242);
  EXPECT_EQ(FindAttr(rs.resource().attributes(), "k8s.pod.name")->string_value(), "checkout-pod");
  ASSERT_EQ(rs.scope_spans_size(), 1);
  EXPECT_EQ(rs.scope_spans(0).scope().name(), "zerotrace");
  ASSERT_EQ(rs.scope_spans(0).spans_size(), 1);
  const trace::Span& s = rs.scope_spans(0).spans(0);
  EXPECT_EQ(s.trace_id().size(), 16u);
  EXPECT_EQ(static_cast<uint8_t>(s.trace_id()[0]), 0x4b);
  EXPECT_EQ(s.span_id().size(), 8u);
  EXPECT_EQ(s.parent_span_id().size(), 8u);
  EXPECT_EQ(s.trace_state(), "congo=t61rcWkgMzE");
  EXPECT_EQ(s.flags(), 1u);
  EXPECT_EQ(s.name(), "GET /users/{id}");
  EXPECT_EQ(s.kind(), trace::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(s.start_time_unix_nano(), 1'700'000'000'123'456'789ULL);
  EXPECT_EQ(s.end_time_unix_nano(), 1'700'000'000'223'456'789ULL);
  EXPECT_EQ(s.status().code(), trace::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(s.status().message(), "upstream timeout");

  EXPECT_EQ(FindAttr(s.attributes(), "http.request.method")->string_value(), "GET");
  EXPECT_EQ(FindAttr(s.attributes(), "http.response.status_code")->int_value(), 503);
  const auto* b = FindAttr(s.attributes(), "net.ok");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->value_case(), common::AnyValue::kBoolValue);
  EXPECT_FALSE(b->bool_value());
  EXPECT_DOUBLE_EQ(FindAttr(s.attributes(), "ratio")->double_value(), 0.25);
  const auto* arr = FindAttr(s.attributes(), "http.request.header.accept");
  ASSERT_NE(arr, nullptr);
  ASSERT_EQ(arr->array_value().values_size(), 2);
  EXPECT_EQ(arr->array_value().values(1).string_value(), "c/d");
  EXPECT_EQ(FindAttr(s.attributes(), "big")->int_value(), -9'007'199'254'740'993);
}

TEST(OtlpEncoderTest, SecretsNeverExported) {
  auto span = MakeRichSpan();
  auto res = tracing::Resource::ForProcess("svc", "h", 1, "x");
  res.attributes.Set("authorization", "nope");
  auto req = RoundTrip({span}, res);
  const auto& attrs = req.resource_spans(0).scope_spans(0).spans(0).attributes();
  EXPECT_EQ(FindAttr(attrs, "http.request.header.authorization"), nullptr);
  EXPECT_EQ(FindAttr(attrs, "Cookie"), nullptr);
  EXPECT_EQ(FindAttr(attrs, "http.response.header.set-cookie"), nullptr);
  EXPECT_EQ(FindAttr(req.resource_spans(0).resource().attributes(), "authorization"), nullptr);
  // Query strings are stripped.
  EXPECT_EQ(FindAttr(attrs, "url.path")->string_value(), "/users/42");
  std::string bytes = req.SerializeAsString();
  EXPECT_EQ(bytes.find("Bearer"), std::string::npos);
  EXPECT_EQ(bytes.find("session=1"), std::string::npos);
  EXPECT_EQ(bytes.find("token=secret"), std::string::npos);
  EXPECT_TRUE(IsSecretAttributeKey("Proxy-Authorization"));
  EXPECT_TRUE(IsSecretAttributeKey("SET-COOKIE"));
  EXPECT_TRUE(IsSecretAttributeKey("url.query"));
  EXPECT_FALSE(IsSecretAttributeKey("http.route"));
}

TEST(OtlpEncoderTest, GroupsByResourceAndUsesDefault) {
  auto a = MakeResource("a", 1);
  auto a_copy = std::make_shared<tracing::Resource>(*a);  // equal by value
  auto b = MakeResource("b", 2);
  std::vector<tracing::Span> spans;
  for (int i = 0; i < 6; ++i) spans.push_back(MakeSimpleSpan(i));
  spans[0].resource = a;
  spans[1].resource = b;
  spans[2].resource = a_copy;
  spans[3].resource = nullptr;  // default
  spans[4].resource = b;
  spans[5].resource = nullptr;
  tracing::Resource def;
  def.attributes.Set("host.name", "collector");
  auto req = RoundTrip(spans, def, {.default_service_name = "zerotrace-default"});
  ASSERT_EQ(req.resource_spans_size(), 3);
  EXPECT_EQ(req.resource_spans(0).scope_spans(0).spans_size(), 2);
  EXPECT_EQ(req.resource_spans(1).scope_spans(0).spans_size(), 2);
  EXPECT_EQ(req.resource_spans(2).scope_spans(0).spans_size(), 2);
  const auto& def_attrs = req.resource_spans(2).resource().attributes();
  EXPECT_EQ(FindAttr(def_attrs, "service.name")->string_value(), "zerotrace-default");
  // A resource with its own service.name keeps it.
  EXPECT_EQ(FindAttr(req.resource_spans(0).resource().attributes(), "service.name")->string_value(),
            "a");
}

TEST(OtlpEncoderTest, RootSpanHasNoParentAndUnsetStatusOmitted) {
  auto s = MakeSimpleSpan(1);
  auto req = RoundTrip({s});
  const auto& ps = req.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_TRUE(ps.parent_span_id().empty());
  EXPECT_FALSE(ps.has_status());
  EXPECT_EQ(ps.kind(), trace::Span::SPAN_KIND_CLIENT);
}

TEST(OtlpEncoderTest, InvalidUtf8Replaced) {
  auto s = MakeSimpleSpan(1);
  s.name = std::string("bad\xff\xfe name");
  s.attributes.Set("k", std::string("\xc3\x28"));
  auto req = RoundTrip({s});
  const auto& ps = req.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(ps.name(), "bad\xEF\xBF\xBD\xEF\xBF\xBD name");
}

TEST(OtlpJsonTest, MappingRules) {
  auto span = MakeRichSpan();
  span.resource = MakeResource("checkout", 4242);
  span.attributes.Set("nan", std::numeric_limits<double>::quiet_NaN());
  auto j = nlohmann::json::parse(ToOtlpJson(BuildExportRequest({&span, 1}, {})));
  const auto& rs = j.at("resourceSpans").at(0);
  bool found_pid = false;
  for (const auto& kv : rs.at("resource").at("attributes")) {
    if (kv.at("key") == "process.pid") {
      EXPECT_EQ(kv.at("value").at("intValue"), "4242");  // int64 as string
      found_pid = true;
    }
  }
  EXPECT_TRUE(found_pid);
  const auto& ss = rs.at("scopeSpans").at(0);
  EXPECT_EQ(ss.at("scope").at("name"), "zerotrace");
  const auto& s = ss.at("spans").at(0);
  EXPECT_EQ(s.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");  // hex, not base64
  EXPECT_EQ(s.at("spanId"), "00f067aa0ba902b7");
  EXPECT_EQ(s.at("parentSpanId"), "b7ad6b7169203331");
  EXPECT_EQ(s.at("traceState"), "congo=t61rcWkgMzE");
  EXPECT_EQ(s.at("kind"), 2);  // enums as integers
  EXPECT_EQ(s.at("flags"), 1);
  EXPECT_EQ(s.at("startTimeUnixNano"), "1700000000123456789");
  EXPECT_EQ(s.at("endTimeUnixNano"), "1700000000223456789");
  EXPECT_EQ(s.at("status").at("code"), 2);
  EXPECT_EQ(s.at("status").at("message"), "upstream timeout");
  std::map<std::string, nlohmann::json> attrs;
  for (const auto& kv : s.at("attributes")) attrs[kv.at("key")] = kv.at("value");
  EXPECT_EQ(attrs.at("http.request.method").at("stringValue"), "GET");
  EXPECT_EQ(attrs.at("http.response.status_code").at("intValue"), "503");
  EXPECT_EQ(attrs.at("big").at("intValue"), "-9007199254740993");
  EXPECT_EQ(attrs.at("net.ok").at("boolValue"), false);
  EXPECT_EQ(attrs.at("ratio").at("doubleValue"), 0.25);
  EXPECT_EQ(attrs.at("nan").at("doubleValue"), "NaN");
  EXPECT_EQ(
      attrs.at("http.request.header.accept").at("arrayValue").at("values").at(0).at("stringValue"),
      "a/b");
  EXPECT_EQ(attrs.count("http.request.header.authorization"), 0u);
  EXPECT_EQ(attrs.count("Cookie"), 0u);
}

TEST(OtlpJsonTest, OneLineNoDefaults) {
  auto s = MakeSimpleSpan(3);
  std::string line = ToOtlpJson(BuildExportRequest({&s, 1}, {}));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  const auto& span = j["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_FALSE(span.contains("parentSpanId"));
  EXPECT_FALSE(span.contains("status"));
  EXPECT_FALSE(span.contains("traceState"));
}

}  // namespace
}  // namespace zerotrace::otlp
