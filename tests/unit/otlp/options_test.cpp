#include "otlp/otlp_options.h"

#include <gtest/gtest.h>

#include <map>

namespace zerotrace::otlp {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(OtlpOptionsTest, DefaultsAndUrl) {
  OtlpExporterOptions o;
  EXPECT_FALSE(o.Enabled());
  EXPECT_EQ(o.TracesUrl(), "http://localhost:4318/v1/traces");
  o.endpoint = "http://collector:4318/";
  EXPECT_TRUE(o.Enabled());
  EXPECT_EQ(o.TracesUrl(), "http://collector:4318/v1/traces");
  o.endpoint = "https://gw.example/otlp";
  EXPECT_EQ(o.TracesUrl(), "https://gw.example/otlp/v1/traces");
  o.traces_endpoint = "http://other:9999/custom/path";
  EXPECT_EQ(o.TracesUrl(), "http://other:9999/custom/path");  // used as is
}

TEST(OtlpOptionsTest, EnvironmentOverridesBase) {
  OtlpExporterOptions base;
  base.endpoint = "http://from-config:4318";
  base.headers = {{"X-Tenant", "config"}, {"keep", "me"}};
  base.service_name = "config-name";
  auto r = OtlpExporterOptions::FromEnvironment(
      base,
      FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"},
               {"OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=env%20tenant, api-key = a%3Db%2Cc ,empty="},
               {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
               {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
               {"OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
               {"OTEL_SERVICE_NAME", "env-name"},
               {"OTEL_BSP_MAX_QUEUE_SIZE", "100"},
               {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"},
               {"OTEL_BSP_SCHEDULE_DELAY", "250"}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->endpoint, "http://env:4318");
  EXPECT_EQ(r->TracesUrl(), "http://env:4318/v1/traces");
  EXPECT_EQ(r->compression, OtlpCompression::kGzip);
  EXPECT_EQ(r->encoding, OtlpEncoding::kJson);
  EXPECT_EQ(r->timeout.count(), 2500);
  EXPECT_EQ(r->service_name, "env-name");
  EXPECT_EQ(r->max_queue_size, 100u);
  EXPECT_EQ(r->max_batch_size, 10u);
  EXPECT_EQ(r->max_export_delay.count(), 250);
  std::map<std::string, std::string> h(r->headers.begin(), r->headers.end());
  EXPECT_EQ(h.at("X-Tenant"), "env tenant");  // merged case-insensitively, URL-decoded
  EXPECT_EQ(h.at("keep"), "me");
  EXPECT_EQ(h.at("api-key"), "a=b,c");
  EXPECT_EQ(h.at("empty"), "");
  EXPECT_EQ(r->headers.size(), 4u);
}

TEST(OtlpOptionsTest, TracesEndpointUsedAsIs) {
  auto r = OtlpExporterOptions::FromEnvironment(
      {}, FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"},
                   {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:1234/x"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->TracesUrl(), "http://b:1234/x");
}

TEST(OtlpOptionsTest, UnsetAndEmptyKeepBase) {
  OtlpExporterOptions base;
  base.endpoint = "http://cfg:4318";
  base.compression = OtlpCompression::kGzip;
  auto r =
      OtlpExporterOptions::FromEnvironment(base, FakeEnv({{"OTEL_EXPORTER_OTLP_ENDPOINT", ""}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->endpoint, "http://cfg:4318");
  EXPECT_EQ(r->compression, OtlpCompression::kGzip);
}

TEST(OtlpOptionsTest, BadValuesAreErrors) {
  auto bad = [](std::string name, std::string value) {
    auto r = OtlpExporterOptions::FromEnvironment({}, FakeEnv({{name, value}}));
    EXPECT_FALSE(r.ok()) << name << "=" << value;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find(name), std::string::npos) << r.error().message;
    }
  };
  bad("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd");
  bad("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
  bad("OTEL_EXPORTER_OTLP_TIMEOUT", "soon");
  bad("OTEL_EXPORTER_OTLP_HEADERS", "novalue");
  bad("OTEL_EXPORTER_OTLP_HEADERS", "k=%zz");
  bad("OTEL_BSP_MAX_QUEUE_SIZE", "0");
}

TEST(OtlpOptionsTest, ParseHeaders) {
  auto h = ParseOtlpHeaders("a=1,b=x%20y");
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[1].second, "x y");
  EXPECT_TRUE(ParseOtlpHeaders("").ok());
  EXPECT_FALSE(ParseOtlpHeaders("=v").ok());
}

}  // namespace
}  // namespace zerotrace::otlp
