// CPython support without BPF: interpreter files and layouts, the location-table decoder checked
// against the interpreter's own co_lines() for thousands of code objects, and frame names read
// from a live interpreter's memory (checked against what it prints about itself).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "python/frame_symbolizer.h"
#include "python/interpreter.h"
#include "python/location_table.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

constexpr const char* kDebianPython = "/usr/bin/python3.11";

class NativeStub : public symbolizer::Symbolizer {
 public:
  profile::Frame Symbolize(uint32_t, uint64_t) override {
    profile::Frame f;
    f.function = "native";
    return f;
  }
};

TEST(PythonInterpreterTest, RecognisesInterpreterFileNames) {
  int minor = 0;
  EXPECT_TRUE(python::LooksLikeInterpreter("/usr/bin/python3.11", &minor));
  EXPECT_EQ(minor, 11);
  EXPECT_TRUE(python::LooksLikeInterpreter("/opt/py/lib/libpython3.13.so.1.0", &minor));
  EXPECT_EQ(minor, 13);
  EXPECT_TRUE(python::LooksLikeInterpreter("/usr/lib/libpython3.12.so", &minor));
  EXPECT_EQ(minor, 12);
  for (const char* not_one : {"/usr/bin/python3", "/usr/bin/python3.11-config", "/usr/bin/python",
                              "/usr/lib/libpython3.11.a", "/x/python3.", "/x/python3.x",
                              "/usr/bin/python3.11d", "/usr/bin/python3.13t",
                              "/usr/lib/libpython3.13t.so.1.0",
                              "/usr/lib/python3.11/lib-dynload/_ssl.cpython-311.so"}) {
    EXPECT_FALSE(python::LooksLikeInterpreter(not_one, &minor)) << not_one;
  }
}

TEST(PythonInterpreterTest, LayoutsExistForTheVersionsWhoseFramesAreRead) {
  for (int minor : {8, 9, 10, 11, 12, 13}) {
    auto l = python::LayoutFor(3, minor);
    ASSERT_TRUE(l) << minor;
    EXPECT_NE(l->kernel.entry_rule, 0);
    if (minor >= 11) {
      EXPECT_GT(l->kernel.code_units, 0);
    }
    EXPECT_GT(l->code.first_line, 0);
  }
  EXPECT_FALSE(python::LayoutFor(3, 7));  // native frames only (counted)
  EXPECT_FALSE(python::LayoutFor(3, 14));
  EXPECT_FALSE(python::LayoutFor(2, 7));
}

TEST(PythonInterpreterTest, DebiansInterpreterExportsItsRuntimeAndEvalLoopAndHasAColdPart) {
  const int fd = open(kDebianPython, O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << kDebianPython << " (Debian's python3.11) is needed";
  auto f = python::InspectInterpreterFile(fd, 11);
  close(fd);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->major, 3);
  EXPECT_EQ(f->minor, 11);  // from Py_Version
  EXPECT_NE(f->runtime, 0u);
  EXPECT_GT(f->eval_end - f->eval_start, 10000u);
  // Debian's build is stripped of .symtab: the eval loop's .cold part has no symbol and is found
  // from the function's jumps. It is a separate range, smaller than the function.
  EXPECT_GT(f->cold_end, f->cold_start);
  EXPECT_TRUE(f->cold_end <= f->eval_start || f->cold_start >= f->eval_end);
  EXPECT_LT(f->cold_end - f->cold_start, f->eval_end - f->eval_start);
}

TEST(PythonInterpreterTest, AFileWithoutTheSymbolsIsRefused) {
  const int fd = open("/bin/sh", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(python::InspectInterpreterFile(fd, 11).ok());
  close(fd);
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Debian's interpreter, and more from ZT_TEST_PYTHONS (space-separated paths, e.g. pyenv's 3.8,
// 3.9 and 3.10 for the older line-table formats).
std::vector<std::string> TestPythons() {
  std::vector<std::string> out = {kDebianPython};
  if (const char* more = std::getenv("ZT_TEST_PYTHONS")) {
    std::istringstream in(more);
    for (std::string p; in >> p;) out.push_back(p);
  }
  return out;
}

// Every code object of some large standard-library modules, compiled by each interpreter: our
// line for each code unit equals the interpreter's own (co_lines(), or dis.findlinestarts()
// before 3.10).
TEST(PythonLocationTableTest, EveryCodeUnitsLineMatchesTheInterpretersOwn) {
  const std::map<std::string, python::LineTableFormat> formats = {
      {"locations", python::LineTableFormat::kLocations},
      {"linetable", python::LineTableFormat::kLineTable},
      {"lnotab", python::LineTableFormat::kLnotab}};
  for (const std::string& interpreter : TestPythons()) {
    SCOPED_TRACE(interpreter);
    const std::string cmd = interpreter + " " + ZT_DUMP_LINE_TABLES +
                            " /usr/lib/python3.11/argparse.py /usr/lib/python3.11/typing.py"
                            " /usr/lib/python3.11/asyncio/base_events.py"
                            " /usr/lib/python3.11/json/decoder.py /usr/lib/python3.11/inspect.py"
                            " /usr/lib/python3.11/_pydecimal.py /usr/lib/python3.11/pydoc.py"
                            " /usr/lib/python3.11/tarfile.py /usr/lib/python3.11/difflib.py";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    size_t codes = 0, units = 0, with_line = 0;
    char* buf = nullptr;
    size_t cap = 0;
    while (getline(&buf, &cap, p) > 0) {
      std::istringstream in(buf);
      int first = 0;
      std::string format, hex, lines;
      in >> format >> first >> hex >> lines;
      ASSERT_TRUE(formats.count(format)) << format;
      const std::string table = hex == "-" ? "" : Unhex(hex);
      std::istringstream ls(lines);
      std::string item;
      int index = 0;
      while (std::getline(ls, item, ',')) {
        const int want = std::stoi(item);
        ASSERT_EQ(python::LineOfCodeUnit(formats.at(format), table, first, index), want)
            << format << ": code unit " << index << " of a code object at line " << first
            << " table " << hex;
        ++index;
        ++units;
        if (want > 0) ++with_line;
      }
      ++codes;
    }
    free(buf);
    EXPECT_EQ(pclose(p), 0);
    EXPECT_GT(codes, 300u);
    EXPECT_GT(with_line, units / 2);
    std::cout << interpreter << ": " << codes << " code objects, " << units << " code units\n";
  }
}

TEST(PythonLocationTableTest, GarbageTablesGiveNoLineAndNeverReadPastTheEnd) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::string t(rng() % 40, '\0');
    for (char& c : t) c = static_cast<char>(rng());
    // Any value; what matters is no read past the table (ASan in the fuzz build).
    (void)python::LineOfCodeUnit(static_cast<python::LineTableFormat>(rng() % 3), t,
                                 static_cast<int>(rng() % 1000), static_cast<int>(rng() % 100) - 1);
  }
  constexpr auto kLocations = python::LineTableFormat::kLocations;
  EXPECT_EQ(python::LineOfCodeUnit(kLocations, "", 10, 0), -1);
  EXPECT_EQ(python::LineOfCodeUnit(kLocations, "\x80", 10, 0), 10);  // column byte missing
  EXPECT_EQ(python::LineOfCodeUnit(kLocations, "\x80\x00", 10, -1), -1);
  EXPECT_EQ(python::LineOfCodeUnit(python::LineTableFormat::kLineTable, "\x04", 10, 0), -1);
}

// A live interpreter prints the address of Burner.spin's code object and a code unit on a known
// line; the symbolizer, given the frame the walker would record, must name it exactly so.
TEST(PythonFrameSymbolizerTest, NamesACodeObjectOfALiveInterpreterWithItsLine) {
  Child py({kDebianPython, ZT_PYTHON_FRAMES_PY, "20", "sleep"});
  std::map<std::string, std::string> code_line;
  uint64_t address = 0;
  int index = 0, line = 0;
  for (;;) {
    auto l = py.ReadLine(std::chrono::seconds(20));
    ASSERT_TRUE(l) << "the workload did not start";
    if (*l == "ready") break;
    if (l->rfind("code ", 0) == 0) {
      std::istringstream in(l->substr(5));
      std::string name;
      in >> name >> address >> index >> line;
    }
  }
  ASSERT_NE(address, 0u);
  auto native = std::make_shared<NativeStub>();
  python::PythonFrameSymbolizer sym(native);
  const uint64_t encoded = ZT_PY_FRAME_BIT | (static_cast<uint64_t>(index + 1) << ZT_PY_INDEX_SHIFT) |
                           (address >> 4);
  const profile::Frame f = sym.Symbolize(static_cast<uint32_t>(py.pid()), encoded);
  EXPECT_EQ(f.function, "Burner.spin");
  EXPECT_EQ(f.module.substr(f.module.rfind('/') + 1), "python_frames.py");
  EXPECT_EQ(f.line, static_cast<uint32_t>(line));
  EXPECT_EQ(profile::FrameName(f), "Burner.spin (python_frames.py:" + std::to_string(line) + ")");
  // A native address goes to the native symbolizer; an address that is no code object is
  // "[python]", not garbage.
  EXPECT_EQ(sym.Symbolize(static_cast<uint32_t>(py.pid()), 0x401000).function, "native");
  EXPECT_EQ(sym.Symbolize(static_cast<uint32_t>(py.pid()), ZT_PY_FRAME_BIT | 0x10).function,
            "[python]");
  py.Signal(9);
  // Once the process is gone its frames are still named from the cache, and new ones are not.
  py.Wait(std::chrono::seconds(5));
  EXPECT_EQ(sym.Symbolize(static_cast<uint32_t>(py.pid()), encoded).function, "Burner.spin");
}

}  // namespace
}  // namespace zerotrace::testing
