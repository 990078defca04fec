#include "flamegraph/svg.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "test_profiles.h"
#include "test_util.h"

namespace zerotrace::flamegraph {
namespace {

using testing::Gpu;
using testing::Kernel;
using testing::Stack;
using testing::User;

bool HavePython() { return std::system("python3 -c pass >/dev/null 2>&1") == 0; }

// Parses `svg` with Python's xml.etree (a real XML parser, independent of our writer) and returns
// the text of every <title>, one per line. Fails the test if the document is not well-formed.
::testing::AssertionResult ParseXml(const std::string& svg, std::string* titles) {
  std::string base = ::testing::TempDir() + "/zt_svg_" + std::to_string(getpid());
  std::string in = base + ".svg", out = base + ".titles", err = base + ".err";
  {
    std::ofstream f(in, std::ios::binary);
    f << svg;
  }
  std::string cmd =
      "python3 -c \"import sys, xml.etree.ElementTree as ET\n"
      "root = ET.parse(sys.argv[1]).getroot()\n"
      "ns = '{http://www.w3.org/2000/svg}'\n"
      "assert root.tag == ns + 'svg', root.tag\n"
      "out = open(sys.argv[2], 'w', encoding='utf-8')\n"
      "[out.write(t.text + '\\n') for t in root.iter(ns + 'title')]\n\" " +
      in + " " + out + " 2>" + err;
  int rc = std::system(cmd.c_str());
  std::ifstream t(out), e(err);
  std::stringstream ts, es;
  ts << t.rdbuf();
  es << e.rdbuf();
  *titles = ts.str();
  std::remove(in.c_str());
  std::remove(out.c_str());
  std::remove(err.c_str());
  if (rc != 0) return ::testing::AssertionFailure() << "not well-formed XML: " << es.str();
  return ::testing::AssertionSuccess();
}

TEST(SvgTest, WellFormedWithFramesPercentagesScriptAndSearch) {
  if (!HavePython()) ZT_SKIP_UNLESS_CI("python3 not available");
  std::string svg = SvgFlamegraphWriter().ToString(testing::OnCpuProfile());
  std::string titles;
  ASSERT_TRUE(ParseXml(svg, &titles));
  EXPECT_NE(titles.find("all (100 samples, 100.00%)"), std::string::npos) << titles;
  EXPECT_NE(titles.find("app (100 samples, 100.00%)"), std::string::npos);
  EXPECT_NE(titles.find("compute (60 samples, 60.00%)"), std::string::npos);
  EXPECT_NE(titles.find("work (90 samples, 90.00%)"), std::string::npos);
  EXPECT_NE(titles.find("sys_write_[k] (30 samples, 30.00%)"), std::string::npos);
  EXPECT_NE(titles.find("idle (10 samples, 10.00%)"), std::string::npos);
  EXPECT_NE(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("id=\"zt-search\""), std::string::npos);
  EXPECT_NE(svg.find("Reset Zoom"), std::string::npos);
  EXPECT_NE(svg.find("Matched"), std::string::npos);  // the search result line in the script
  EXPECT_NE(svg.find("On-CPU Flame Graph"), std::string::npos);
  EXPECT_NE(svg.find("49 Hz"), std::string::npos);  // default subtitle
}

TEST(SvgTest, KernelAndUserFramesGetDifferentPalettes) {
  std::string svg = SvgFlamegraphWriter().ToString(testing::OnCpuProfile());
  auto fill_of = [&](const std::string& name) {
    size_t t = svg.find("<title>" + name + " (");
    size_t f = svg.find("fill=\"rgb(", t);
    return svg.substr(f + 10, svg.find(')', f) - f - 10);
  };
  // Kernel frames are blue (b is the largest channel); user frames warm (r largest).
  int r = 0, g = 0, b = 0;
  ASSERT_EQ(std::sscanf(fill_of("sys_write_[k]").c_str(), "%d,%d,%d", &r, &g, &b), 3);
  EXPECT_GT(b, r);
  ASSERT_EQ(std::sscanf(fill_of("compute").c_str(), "%d,%d,%d", &r, &g, &b), 3);
  EXPECT_GT(r, b);
}

TEST(SvgTest, EscapesNamesAndSurvivesInvalidUtf8) {
  if (!HavePython()) ZT_SKIP_UNLESS_CI("python3 not available");
  Profile p;
  p.samples.push_back(Stack("a&b", 1, {User("std::map<int, T&>::find(\"x\")")}, 3));
  p.samples.push_back(Stack("bin\xff\xfe", 2, {User(std::string("ctl\x01\x1b]]>", 7))}, 1));
  p.samples.push_back(Stack("caf\xc3\xa9", 3, {User("na\xc3\xafve")}, 1));
  SvgOptions opts;
  opts.title = "<Title> & \"quotes\"";
  std::string svg = SvgFlamegraphWriter(opts).ToString(p);
  std::string titles;
  ASSERT_TRUE(ParseXml(svg, &titles));
  EXPECT_NE(titles.find("std::map<int, T&>::find(\"x\") (3 samples, 60.00%)"), std::string::npos)
      << titles;
  EXPECT_NE(titles.find("a&b ("), std::string::npos);
  EXPECT_NE(titles.find("caf\xc3\xa9 ("), std::string::npos);  // valid UTF-8 kept
  EXPECT_NE(svg.find("&lt;Title&gt; &amp; &quot;quotes&quot;"), std::string::npos);
}

TEST(SvgTest, OffCpuAndGpuTooltipsShowTime) {
  Profile p;
  p.type = ProfileType::kOffCpu;
  p.samples.push_back(Stack("db", 1, {User("main"), Kernel("schedule")}, 12500000));
  p.samples.push_back(Stack("db", 1, {User("main"), User("sleep")}, 2500000000ULL));
  std::string svg = SvgFlamegraphWriter().ToString(p);
  EXPECT_NE(svg.find("schedule_[k] (12.50 ms, 0.50%)"), std::string::npos);
  EXPECT_NE(svg.find("sleep (2.50 s, 99.50%)"), std::string::npos);
  EXPECT_NE(svg.find("Off-CPU Flame Graph"), std::string::npos);

  Profile gpu;
  gpu.type = ProfileType::kGpu;
  gpu.samples.push_back(Stack("train", 1, {User("step"), Gpu("sgemm")}, 750000));
  std::string gsvg = SvgFlamegraphWriter().ToString(gpu);
  EXPECT_NE(gsvg.find("[gpu] sgemm (750.00 us, 100.00%)"), std::string::npos);
  EXPECT_NE(gsvg.find("GPU Flame Graph"), std::string::npos);
}

TEST(SvgTest, DropsFramesNarrowerThanThreshold) {
  Profile p;
  p.samples.push_back(Stack("big", 1, {User("hot")}, 1000000000));
  p.samples.push_back(Stack("big", 1, {User("tiny_frame")}, 1));
  std::string svg = SvgFlamegraphWriter().ToString(p);
  EXPECT_NE(svg.find("hot ("), std::string::npos);
  EXPECT_EQ(svg.find("tiny_frame"), std::string::npos);
}

TEST(SvgTest, TruncatedStacksShowMarker) {
  Profile p;
  p.samples.push_back(Stack("app", 1, {User("leaf")}, 5, true));
  std::string svg = SvgFlamegraphWriter().ToString(p);
  size_t proc = svg.find("<title>app (");
  size_t trunc = svg.find("<title>[truncated] (");
  size_t leaf = svg.find("<title>leaf (");
  ASSERT_NE(trunc, std::string::npos);
  EXPECT_LT(proc, trunc);
  EXPECT_LT(trunc, leaf);
}

TEST(SvgTest, EmptyProfileIsStillAValidDocument) {
  if (!HavePython()) ZT_SKIP_UNLESS_CI("python3 not available");
  std::string svg = SvgFlamegraphWriter().ToString(Profile{});
  std::string titles;
  ASSERT_TRUE(ParseXml(svg, &titles));
  EXPECT_NE(svg.find("No samples"), std::string::npos);
}

TEST(SvgTest, XmlEscapeHandlesEverything) {
  EXPECT_EQ(XmlEscape("<a href='x'>&\"</a>"), "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(XmlEscape("a\x01z"), "a?z");
  EXPECT_EQ(XmlEscape("\xc3\xa9"), "\xc3\xa9");
  EXPECT_EQ(XmlEscape("\xc0\x80"), "??");       // overlong NUL
  EXPECT_EQ(XmlEscape("\xed\xa0\x80"), "???");  // surrogate
  EXPECT_EQ(XmlEscape("\xe2\x82"), "??");       // truncated sequence
}

TEST(SvgTest, HostileDepthAndOptionsDoNotCrash) {
  Profile p;
  std::vector<Frame> deep;
  for (int i = 0; i < 100000; ++i) deep.push_back(User("f" + std::to_string(i % 7)));
  p.samples.push_back(Stack("deep", 1, deep, 3));
  SvgOptions opts;
  opts.font_size = 0;
  opts.width = -5;
  opts.frame_height = 0;
  opts.min_width_px = std::nan("");
  opts.max_depth = 50;
  std::string svg = SvgFlamegraphWriter(opts).ToString(p);
  EXPECT_NE(svg.find("data-d=\"50\""), std::string::npos);
  EXPECT_EQ(svg.find("data-d=\"51\""), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  if (HavePython()) {
    std::string titles;
    EXPECT_TRUE(ParseXml(svg, &titles));
  }
  // Default cap keeps a 100k-frame stack renderable.
  EXPECT_NE(SvgFlamegraphWriter().ToString(p).find("</svg>"), std::string::npos);
}

TEST(SvgTest, WriteFileReportsErrors) {
  EXPECT_FALSE(SvgFlamegraphWriter().WriteFile(Profile{}, "/nonexistent/dir/x.svg"));
}

}  // namespace
}  // namespace zerotrace::flamegraph
