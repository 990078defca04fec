#include "symbolizer/kallsyms.h"

#include <gtest/gtest.h>

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
  ASSERT_NE(syms.Find(0xffffffff81e00000), nullptr);
  EXPECT_EQ(syms.Find(0xffffffff81e00000)->name, "__schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e000ff)->name, "__schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e00100)->name, "schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e00123)->name, "schedule");
  EXPECT_EQ(syms.Find(0xffffffff81e00123)->module, "[kernel.kallsyms]");
  EXPECT_EQ(syms.Find(0xffffffff81e00400)->name, "weak_function");
  EXPECT_EQ(syms.Find(0xffffffff80000000), nullptr);  // below the first symbol
}

TEST(KallsymsTest, KeepsModuleNamesInBrackets) {
  KernelSymbols syms = Parse(kFixture);
  const KernelSymbol* s = syms.Find(0xffffffffc0a01010);
  ASSERT_NE(s, nullptr);
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
  EXPECT_EQ(f.kind, flamegraph::FrameKind::kKernel);
  EXPECT_EQ(f.address, 0xffffffff81e00110u);
  EXPECT_EQ(flamegraph::FrameLabel(f), "schedule_[k]");
  auto unknown = sym.Symbolize(0, 0x1000);
  EXPECT_TRUE(unknown.function.empty());
  EXPECT_EQ(flamegraph::FrameName(unknown), "0x1000");
}

TEST(KallsymsTest, LoadsTheRunningKernelsTableWhenReadable) {
  auto r = KernelSymbols::Load();
  if (!r.ok()) ZT_SKIP_UNLESS_CI(r.error().message);
  EXPECT_GT(r->size(), 1000u);
}

}  // namespace
}  // namespace zerotrace::symbolizer
