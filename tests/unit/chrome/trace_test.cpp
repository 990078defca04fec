#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "chrome/trace.h"

namespace zerotrace::chrome {
namespace {

using nlohmann::json;

Trace Sample() {
  Trace t;
  t.names.push_back({42, 0, true, "svc (pid 42)", 0});
  t.names.push_back({42, 1000000000, false, "GPU 0 stream 7", 1000000000});
  t.slices.push_back(
      {"cuLaunchKernel", "cuda", 42, 43, 2000, 1000, {{"kernel", std::string("k")}}});
  t.slices.push_back({"k",
                      "gpu",
                      42,
                      1000000000,
                      5000,
                      2500,
                      {{"correlation_id", uint64_t{7}}, {"shared", int64_t{-1}}, {"x", 0.5}}});
  t.flows.push_back({1, "launch", "launch", 42, 43, 2000, 42, 1000000000, 5000});
  t.metadata["tool"] = "zerotrace";
  return t;
}

TEST(ChromeTrace, WritesValidTraceEventJson) {
  const json j = json::parse(TraceWriter::ToJson(Sample()));
  ASSERT_TRUE(j.contains("traceEvents"));
  EXPECT_EQ(j["displayTimeUnit"], "ns");
  EXPECT_EQ(j["otherData"]["tool"], "zerotrace");
  const auto& ev = j["traceEvents"];
  ASSERT_EQ(ev.size(), 2u + 1u + 2u + 2u);  // 2 names + 1 sort index, 2 slices, 2 flow ends
  // Metadata first, then by time.
  EXPECT_EQ(ev[0]["ph"], "M");
  EXPECT_EQ(ev[0]["name"], "process_name");
  EXPECT_EQ(ev[0]["args"]["name"], "svc (pid 42)");
  double last = -1;
  int slices = 0;
  for (const auto& e : ev) {
    if (e["ph"] == "M") continue;
    EXPECT_GE(e["ts"].get<double>(), last);
    last = e["ts"].get<double>();
    if (e["ph"] == "X") {
      ++slices;
      if (e["name"] == "k") {
        EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 5.0);  // microseconds
        EXPECT_DOUBLE_EQ(e["dur"].get<double>(), 2.5);
        EXPECT_EQ(e["tid"], 1000000000);
        EXPECT_EQ(e["args"]["correlation_id"], 7);
        EXPECT_EQ(e["args"]["shared"], -1);
        EXPECT_DOUBLE_EQ(e["args"]["x"].get<double>(), 0.5);
      }
    }
    if (e["ph"] == "s") {
      EXPECT_EQ(e["id"], 1);
      EXPECT_EQ(e["tid"], 43);
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 2.0);
    }
    if (e["ph"] == "f") {
      EXPECT_EQ(e["id"], 1);
      EXPECT_EQ(e["bp"], "e");
      EXPECT_EQ(e["tid"], 1000000000);
    }
  }
  EXPECT_EQ(slices, 2);
}

TEST(ChromeTrace, EscapesNamesAndReplacesInvalidUtf8) {
  Trace t;
  t.slices.push_back({"a\"b\\c\n\xff", "gpu", 1, 1, 0, 1, {}});
  const json j = json::parse(TraceWriter::ToJson(t));
  const std::string name = j["traceEvents"][0]["name"];
  EXPECT_EQ(name.substr(0, 6), "a\"b\\c\n");
}

TEST(ChromeTrace, EmptyTraceIsValid) {
  const json j = json::parse(TraceWriter::ToJson(Trace{}));
  EXPECT_TRUE(j["traceEvents"].empty());
}

TEST(ChromeTrace, WriteFile) {
  const std::string path = "/tmp/zt_chrome_trace_test_" + std::to_string(getpid()) + ".json";
  std::string error;
  ASSERT_TRUE(TraceWriter::WriteFile(Sample(), path, &error)) << error;
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  EXPECT_TRUE(json::accept(buf.str()));
  unlink(path.c_str());
  EXPECT_FALSE(TraceWriter::WriteFile(Sample(), "/nonexistent-dir/x.json", &error));
  EXPECT_FALSE(error.empty());
}

}  // namespace
}  // namespace zerotrace::chrome
