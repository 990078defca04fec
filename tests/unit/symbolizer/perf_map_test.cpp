#include "symbolizer/perf_map.h"

#include <gtest/gtest.h>

namespace zerotrace::symbolizer {
namespace {

TEST(PerfMapTest, ParsesStartSizeAndNamesWithSpaces) {
  PerfMapParser::Stats stats;
  PerfMap m = PerfMapParser::Parse(
      "7f0000001000 40 LazyCompile:~handler /srv/app.js:12\n"
      "7f0000000000 100 Interpreter\n"
      "0x7f0000002000 0x20 py::main:/app/main.py\n",
      &stats);
  EXPECT_EQ(stats.lines, 3u);
  EXPECT_EQ(stats.bad_lines, 0u);
  ASSERT_EQ(m.size(), 3u);
  ASSERT_NE(m.Find(0x7f0000001010), nullptr);
  EXPECT_EQ(m.Find(0x7f0000001010)->name, "LazyCompile:~handler /srv/app.js:12");
  EXPECT_EQ(m.Find(0x7f0000000000)->name, "Interpreter");
  EXPECT_EQ(m.Find(0x7f00000000ff)->name, "Interpreter");
  EXPECT_EQ(m.Find(0x7f000000201f)->name, "py::main:/app/main.py");
}

TEST(PerfMapTest, AddressesOutsideEveryEntryAreNotFound) {
  PerfMap m = PerfMapParser::Parse("1000 10 a\n2000 10 b\n");
  EXPECT_EQ(m.Find(0xfff), nullptr);
  EXPECT_EQ(m.Find(0x1010), nullptr);  // end is exclusive
  EXPECT_EQ(m.Find(0x1800), nullptr);
  EXPECT_EQ(m.Find(0x2010), nullptr);
}

TEST(PerfMapTest, LaterEntriesForTheSameStartWin) {
  // A JIT that recompiles a function at the same address appends a new line.
  PerfMap m = PerfMapParser::Parse("1000 10 old\n1000 10 new\n");
  ASSERT_NE(m.Find(0x1004), nullptr);
  EXPECT_EQ(m.Find(0x1004)->name, "new");
}

TEST(PerfMapTest, BadLinesAreCountedAndSkipped) {
  PerfMapParser::Stats stats;
  PerfMap m = PerfMapParser::Parse("zzzz 10 bad\n1000\n1000 10\n\n2000 10 good\r\n", &stats);
  EXPECT_EQ(stats.lines, 4u);
  EXPECT_EQ(stats.bad_lines, 3u);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.Find(0x2000)->name, "good");
}

TEST(PerfMapTest, MissingFileIsEmpty) {
  EXPECT_TRUE(PerfMapParser::ReadFile("/nonexistent/perf-1.map").empty());
  EXPECT_EQ(PerfMapParser::PathFor(42), "/tmp/perf-42.map");
}

}  // namespace
}  // namespace zerotrace::symbolizer
