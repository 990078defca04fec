#include "symbolizer/kallsyms.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace zerotrace::symbolizer {
namespace {

// Unsorted on purpose, with data symbols, a module and a weak symbol, as /proc/kallsyms has.
constexpr const char* kFixture =
    "ffffffff81000000 T _stext\n"
    "ffffffff81e00100 T schedule\n"
    "ffffffff81e00000 t __schedule\n"
    "ffffffff82a00000 D jiffies\n"
    "ffffffff81e00300 W weak_function\n"
    "ffffffffc0a01000 t nft_do_chain\t[nf_tables]\n"
    "ffffffffc0a02000 T nft_register_chain\t[nf_tables]\n"
    "garbage line\n"
    "ffffffff81000100 b bss_thing\n";

KernelSymbols Parse(const std::string& text) {
  std::istringstream in(text);
  auto r = KernelSymbols::Parse(in);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(*r) : KernelSymbols{};
}

TEST(KallsymsTest, KeepsTextSymbolsOnlyAndSortsThem) {
  KernelSymbols syms = Parse(kFixture);
  EXPECT_EQ(syms.size(), 6u);  // _stext, schedule, __schedule, weak_function, 2 module symbols
}

TEST(KallsymsTest, FindsTheSymbolContainingAnAddress) {
  KernelSymbols syms = Parse(kFixture);
  ASSERT_TRUE(syms.Find(0xffffffff81e00000));
  EXPECT_EQ(syms.Find(0xffffffff81e00000)->name, "__schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e000ff)->name, "__schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e00100)->name, "schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e00123)->name, "schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e00123)->module, "[kernel.kallsyms]");
  EXPECT_EQ(syms.Find(0xffffffff81e00400)->name, "weak_function");
  EXPECT_FALSE(syms.Find(0xffffffff80000000));  // below the first symbol
}

// Past the end of kernel text lie BPF programs and modules loaded later: not the last function.
TEST(KallsymsTest, SectionEndMarkersEndTheLastFunction) {
  KernelSymbols syms = Parse(
      "ffffffff81000000 T _stext\n"
      "ffffffff81000100 T last_function\n"
      "ffffffff81000200 T __sched_text_end\n"
      "ffffffff81000200 T after_sched\n"
      "ffffffff81000300 T _etext\n");
  EXPECT_EQ(syms.Find(0xffffffff81000150)->name, "last_function");
  // A marker and a function at one address: the address is the function's.
  EXPECT_EQ(syms.Find(0xffffffff81000200)->name, "after_sched");
  EXPECT_FALSE(syms.Find(0xffffffff81000300));
  EXPECT_FALSE(syms.Find(0xffffffffc0001000));
  EXPECT_TRUE(IsSectionEndMarker("_einittext"));
  EXPECT_FALSE(IsSectionEndMarker("__end"));
  EXPECT_FALSE(IsSectionEndMarker("blk_end"));
}

// BPF programs (zerotrace's own among them) enter kallsyms after the table was read: an address
// nothing names re-reads it, and a miss right after does not read it again.
TEST(KallsymsTest, UnknownAddressesRereadTheTableAtMostOncePerInterval) {
  char path[] = "/tmp/zt-kallsyms-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "ffffffff81000000 T _stext\nffffffff81000100 T do_work\n"
                         "ffffffff81000300 T _etext\n";
  auto sym = KallsymsSymbolizer::Create(path);
  ASSERT_TRUE(sym.ok()) << sym.error().message;
  std::ofstream(path, std::ios::app)
      << "ffffffffc0001000 t bpf_prog_0123456789abcdef_switch\t[bpf]\n";
  auto f = (*sym)->Symbolize(0, 0xffffffffc0001010);
  EXPECT_EQ(f.function, "bpf_prog_0123456789abcdef_switch");
  EXPECT_EQ(f.module, "[bpf]");
  EXPECT_EQ((*sym)->reloads(), 1u);
  EXPECT_EQ((*sym)->Symbolize(0, 0xffffffff80000000).function, "");  // below everything
  EXPECT_EQ((*sym)->reloads(), 1u);  // within the interval: no second read
  std::remove(path);
}

TEST(KallsymsTest, KeepsModuleNamesInBrackets) {
  KernelSymbols syms = Parse(kFixture);
  std::optional<KernelSymbol> s = syms.Find(0xffffffffc0a01010);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "nft_do_chain");
  EXPECT_EQ(s->module, "[nf_tables]");
}

TEST(KallsymsTest, HiddenAddressesAreAClearError) {
  std::istringstream in("0000000000000000 T _stext\n0000000000000000 T schedule\n");
  auto r = KernelSymbols::Parse(in);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("kptr_restrict"), std::string::npos);
}

TEST(KallsymsTest, EmptyInputIsAnError) {
  std::istringstream in("");
  EXPECT_FALSE(KernelSymbols::Parse(in).ok());
  EXPECT_FALSE(KernelSymbols::Load("/nonexistent/kallsyms").ok());
}

TEST(KallsymsTest, SymbolizerMakesKernelFramesAndKeepsUnknownAddresses) {
  KallsymsSymbolizer sym(Parse(kFixture));
  auto f = sym.Symbolize(1234, 0xffffffff81e00110);
  EXPECT_EQ(f.function, "schedule");
  EXPECT_EQ(f.kind, profile::FrameKind::kKernel);
  EXPECT_EQ(f.address, 0xffffffff81e00110u);
  EXPECT_EQ(profile::FrameLabel(f), "schedule_[k]");
  auto unknown = sym.Symbolize(0, 0x1000);
  EXPECT_TRUE(unknown.function.empty());
  EXPECT_EQ(profile::FrameName(unknown), "0x1000");
}

TEST(KallsymsTest, LoadsTheRunningKernelsTableWhenReadable) {
  auto r = KernelSymbols::Load();
  if (!r.ok()) ZT_SKIP_UNLESS_CI(r.error().message);
  EXPECT_GT(r->size(), 1000u);
  // Compact: 16 bytes a symbol plus its name (kernel names average ~25 bytes). The table is
  // re-read when a BPF program or module appears; a string per name took ~3x this.
  EXPECT_LT(r->memory_bytes(), r->size() * 64) << r->size() << " symbols";
  std::printf("kallsyms: %zu text symbols in %zu KiB\n", r->size(), r->memory_bytes() / 1024);
}

}  // namespace
}  // namespace zerotrace::symbolizer
