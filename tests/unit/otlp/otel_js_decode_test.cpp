// Cross-check: decode our protobuf payload with a decoder we did not write (OpenTelemetry JS's
// generated code, via node). Skips (with the reason) when node or node_modules are missing;
// install with: npm ci --prefix tests/unit/otlp
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "otlp/otlp_encoder.h"
#include "test_spans.h"
#include "test_util.h"

namespace zerotrace::otlp {
namespace {

namespace fs = std::filesystem;

std::string RunCommand(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

TEST(OtelJsDecodeTest, PayloadDecodesWithOpenTelemetryJs) {
  const char* src = std::getenv("ZT_SOURCE_DIR");
  if (src == nullptr) ZT_SKIP_UNLESS_CI("ZT_SOURCE_DIR not set (run through ctest)");
  fs::path script = fs::path(src) / "tests/unit/otlp/decode_with_otel_js.mjs";
  const char* js_dir_env = std::getenv("ZT_OTEL_JS_DIR");
  fs::path js_dir = js_dir_env ? fs::path(js_dir_env) : script.parent_path();
  if (!fs::exists(js_dir / "node_modules/@opentelemetry/otlp-transformer")) {
    ZT_SKIP_UNLESS_CI("OpenTelemetry JS not installed in " +
                      (js_dir / "node_modules").string() + " (npm ci --prefix tests/unit/otlp)");
  }
  int status = 0;
  RunCommand("node --version >/dev/null 2>&1", &status);
  if (status != 0) ZT_SKIP_UNLESS_CI("node not found on PATH (scripts/setup-deps.sh installs it)");

  auto span = testing::MakeRichSpan();
  span.resource = testing::MakeResource("checkout", 4242);
  std::string bytes = BuildExportRequest({&span, 1}, {}).SerializeAsString();
  fs::path payload = fs::path(::testing::TempDir()) / "zt_otlp_payload.bin";
  std::ofstream(payload, std::ios::binary) << bytes;

  std::string cmd = "ZT_OTEL_JS_DIR='" + js_dir.string() + "' node '" + script.string() + "' '" +
                    payload.string() + "'";
  std::string out = RunCommand(cmd, &status);
  fs::remove(payload);
  ASSERT_EQ(status, 0) << out;
  auto j = nlohmann::json::parse(out);
  const auto& rs = j.at("resourceSpans").at(0);
  const auto& s = rs.at("scopeSpans").at(0).at("spans").at(0);
  EXPECT_EQ(s.at("traceId"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s.at("spanId"), "00f067aa0ba902b7");
  EXPECT_EQ(s.at("parentSpanId"), "b7ad6b7169203331");
  EXPECT_EQ(s.at("name"), "GET /users/{id}");
  EXPECT_EQ(s.at("kind"), 2);
  EXPECT_EQ(s.at("startTimeUnixNano"), "1700000000123456789");
  EXPECT_EQ(s.at("status").at("code"), 2);
  std::map<std::string, nlohmann::json> attrs;
  for (const auto& kv : s.at("attributes")) attrs[kv.at("key")] = kv.at("value");
  EXPECT_EQ(attrs.at("http.request.method").at("stringValue"), "GET");
  EXPECT_EQ(attrs.at("http.response.status_code").at("intValue"), "503");
  EXPECT_EQ(attrs.at("big").at("intValue"), "-9007199254740993");
  EXPECT_EQ(attrs.at("net.ok").at("boolValue"), false);
  EXPECT_EQ(attrs.at("ratio").at("doubleValue"), 0.25);
  EXPECT_EQ(attrs.at("http.request.header.accept").at("arrayValue").at("values").size(), 2u);
  EXPECT_EQ(attrs.count("http.request.header.authorization"), 0u);
  bool found = false;
  for (const auto& kv : rs.at("resource").at("attributes")) {
    if (kv.at("key") == "service.name") found = kv.at("value").at("stringValue") == "checkout";
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace zerotrace::otlp
