// ElfUserSymbolizer against this very test process: its own C++ functions (demangled),
// a fake JIT region named by a perf map, and file-backed memory without symbols.
#include "symbolizer/elf_user_symbolizer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace zerotrace::symbolizer::demangle_fixture {
// Not static, not inline: a real symbol in the test binary's .symtab.
__attribute__((noinline)) int DemangleMe(int x) { return x * 3 + 1; }
}  // namespace zerotrace::symbolizer::demangle_fixture

namespace zerotrace::symbolizer {
namespace {

uint32_t Self() { return static_cast<uint32_t>(getpid()); }

std::string MakeTempDir() {
  char tmpl[] = "/tmp/zt-sym-XXXXXX";
  return mkdtemp(tmpl);
}

TEST(ElfUserSymbolizerTest, ResolvesAndDemanglesOwnCppFunction) {
  ElfUserSymbolizer sym;
  sym.Prepare(Self());
  const uint64_t addr = reinterpret_cast<uint64_t>(&demangle_fixture::DemangleMe) + 4;
  auto f = sym.Symbolize(Self(), addr);
  EXPECT_EQ(f.function, "zerotrace::symbolizer::demangle_fixture::DemangleMe(int)");
  EXPECT_EQ(f.kind, profile::FrameKind::kUser);
  EXPECT_NE(f.module.find("symbolizer_test"), std::string::npos) << f.module;
  EXPECT_EQ(f.address, addr);
  EXPECT_GT(f.module_offset, 0u);
  EXPECT_EQ(f.build_id.size(), 40u) << "GNU build ids are 20-byte SHA1s: " << f.build_id;
}

TEST(ElfUserSymbolizerTest, ResolvesLibcFunctions) {
  ElfUserSymbolizer sym;
  const uint64_t addr = reinterpret_cast<uint64_t>(&getpid);
  auto f = sym.Symbolize(Self(), addr);
  EXPECT_NE(f.function.find("getpid"), std::string::npos) << f.function;
  EXPECT_NE(f.module.find("libc"), std::string::npos) << f.module;
}

TEST(ElfUserSymbolizerTest, JitFramesComeFromThePerfMapAndAreMarked) {
  const std::string dir = MakeTempDir();
  void* region = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  const uint64_t base = reinterpret_cast<uint64_t>(region);
  {
    std::ofstream map(dir + "/perf-" + std::to_string(Self()) + ".map");
    char line[128];
    std::snprintf(line, sizeof(line), "%lx 100 LazyCompile:*handleRequest app.js:10\n",
                  static_cast<unsigned long>(base));
    map << line;
  }
  ElfUserSymbolizer sym("/proc", dir);
  sym.Prepare(Self());
  auto f = sym.Symbolize(Self(), base + 0x10);
  EXPECT_EQ(f.function, "LazyCompile:*handleRequest app.js:10");
  EXPECT_EQ(f.kind, profile::FrameKind::kJit);
  EXPECT_EQ(profile::FrameLabel(f), "LazyCompile:*handleRequest app.js:10_[j]");
  // Outside the JIT entry: the bare address, still a frame.
  auto outside = sym.Symbolize(Self(), base + 0x200);
  EXPECT_EQ(profile::FrameName(outside),
            profile::FrameName(profile::Frame{.address = base + 0x200}));
  munmap(region, 4096);
}

TEST(ElfUserSymbolizerTest, FileWithoutSymbolsKeepsModulePlusOffset) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/blob.bin";
  {
    std::ofstream out(path);
    out << std::string(3 * 4096, 'x');  // not an ELF: no symbols at all
  }
  FILE* file = std::fopen(path.c_str(), "r");
  ASSERT_NE(file, nullptr);
  void* region = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fileno(file), 4096);
  ASSERT_NE(region, MAP_FAILED);
  ElfUserSymbolizer sym;
  const uint64_t addr = reinterpret_cast<uint64_t>(region) + 0x123;
  auto f = sym.Symbolize(Self(), addr);  // mapped after any snapshot: found by a refresh
  EXPECT_TRUE(f.function.empty()) << f.function;
  EXPECT_EQ(f.module, path);
  EXPECT_EQ(f.module_offset, 4096u + 0x123u);
  EXPECT_EQ(profile::FrameName(f), path + "+0x1123");
  munmap(region, 4096);
  std::fclose(file);
}

TEST(ElfUserSymbolizerTest, UnmappedAddressIsKeptAsAddress) {
  ElfUserSymbolizer sym;
  auto f = sym.Symbolize(Self(), 0x10);
  EXPECT_EQ(profile::FrameName(f), "0x10");
}

TEST(ElfUserSymbolizerTest, ForgetDropsTheProcess) {
  ElfUserSymbolizer sym;
  sym.Prepare(Self());
  EXPECT_EQ(sym.processes(), 1u);
  sym.Forget(Self());
  EXPECT_EQ(sym.processes(), 0u);
}

}  // namespace
}  // namespace zerotrace::symbolizer
