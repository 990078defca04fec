#include "otlp/otlp_file_exporter.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_spans.h"

namespace zerotrace::otlp {
namespace {

TEST(OtlpFileExporterTest, WritesOneRequestPerLine) {
  std::string path = ::testing::TempDir() + "/zt_spans_test.jsonl";
  {
    auto exp = OtlpFileExporter::Open(path, tracing::Resource::ForProcess("svc", "h", 1, "x"));
    ASSERT_TRUE(exp.ok()) << exp.error().message;
    std::vector<tracing::Span> first = {testing::MakeRichSpan(), testing::MakeSimpleSpan(1)};
    ASSERT_TRUE((*exp)->Export(first).ok());
    std::vector<tracing::Span> second = {testing::MakeSimpleSpan(2)};
    ASSERT_TRUE((*exp)->Export(second).ok());
    ASSERT_TRUE((*exp)->Export({}).ok());  // nothing written
    ASSERT_TRUE((*exp)->Flush().ok());
    EXPECT_EQ((*exp)->spans_written(), 3u);
  }
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  auto a = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(a["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 2u);
  EXPECT_EQ(a["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"],
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(lines[0].find("Bearer"), std::string::npos);  // secret filter applies here too
  auto b = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(b["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"], "span-2");
  std::remove(path.c_str());
}

TEST(OtlpFileExporterTest, OpenErrorsAreValues) {
  auto exp = OtlpFileExporter::Open("/nonexistent-dir-zt/x.jsonl");
  ASSERT_FALSE(exp.ok());
  EXPECT_NE(exp.error().message.find("/nonexistent-dir-zt/x.jsonl"), std::string::npos);
  EXPECT_FALSE(OtlpFileExporter::Open("").ok());
}

}  // namespace
}  // namespace zerotrace::otlp
