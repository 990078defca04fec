// .eh_frame → walker rows, checked against what the x86-64 ABI and glibc's sources say the CFI
// of known places is (function entry, the PLT, the outermost frame, the signal trampoline).
#include "unwind/cfi_rows.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "test_util.h"

namespace zerotrace::unwind {
namespace {

struct Fd {
  explicit Fd(const std::string& path) : fd(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  int fd;
};

// The row in effect at `pc` (the last with row.pc <= pc).
const zt_unwind_row* RowAt(const std::vector<zt_unwind_row>& rows, uint64_t pc) {
  auto it = std::upper_bound(rows.begin(), rows.end(), pc,
                             [](uint64_t v, const zt_unwind_row& r) { return v < r.pc; });
  if (it == rows.begin()) return nullptr;
  return &*(it - 1);
}

std::string LibcPath() {
  Dl_info info{};
  EXPECT_NE(dladdr(reinterpret_cast<void*>(&usleep), &info), 0);
  return info.dli_fname;
}

uint64_t VaddrOf(const char* symbol) {
  void* addr = dlsym(RTLD_DEFAULT, symbol);
  Dl_info info{};
  if (!addr || !dladdr(addr, &info)) return 0;
  return reinterpret_cast<uint64_t>(addr) - reinterpret_cast<uint64_t>(info.dli_fbase);
}

uint64_t SectionAddress(const std::string& path, const char* name) {
  Fd f(path);
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(f.fd, ELF_C_READ, nullptr);
  size_t shstrndx = 0;
  uint64_t addr = 0;
  if (elf && elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      const char* n = elf_strptr(elf, shstrndx, sh.sh_name);
      if (n && std::strcmp(n, name) == 0) addr = sh.sh_addr;
    }
  }
  if (elf) elf_end(elf);
  return addr;
}

TEST(CfiRowsTest, LibcRowsAreSortedAndSayWhatTheAbiSaysAtAFunctionEntry) {
  Fd f(LibcPath());
  auto rows = ReadCfiRows(f.fd);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  EXPECT_GT(rows->functions, 1000u);
  EXPECT_GT(rows->rows.size(), rows->functions);
  for (size_t i = 1; i < rows->rows.size(); ++i) {
    ASSERT_LT(rows->rows[i - 1].pc, rows->rows[i].pc) << i;
  }
  // At the first instruction of a function the CFA is rsp + 8 (the return address just pushed)
  // and rbp is untouched.
  for (const char* fn : {"__libc_start_main", "malloc", "usleep"}) {
    const uint64_t pc = VaddrOf(fn);
    ASSERT_NE(pc, 0u) << fn;
    const zt_unwind_row* r = RowAt(rows->rows, pc);
    ASSERT_NE(r, nullptr) << fn;
    EXPECT_EQ(r->cfa_rule, ZT_UNWIND_CFA_RSP) << fn;
    EXPECT_EQ(r->cfa_offset, 8) << fn;
    EXPECT_EQ(r->rbp_rule, ZT_UNWIND_RBP_SAME) << fn;
  }
  // glibc's sigreturn trampoline is marked a signal frame ('S'), and nothing else is.
  const auto signal_rows = std::count_if(rows->rows.begin(), rows->rows.end(), [](const auto& r) {
    return r.cfa_rule == ZT_UNWIND_CFA_SIGNAL;
  });
  EXPECT_EQ(signal_rows, 1);
}

TEST(CfiRowsTest, PltEntriesGetTheirExpressionAsARule) {
  const std::string libc = LibcPath();
  const uint64_t plt = SectionAddress(libc, ".plt");
  ASSERT_NE(plt, 0u) << "no .plt in " << libc;
  Fd f(libc);
  auto rows = ReadCfiRows(f.fd);
  ASSERT_TRUE(rows.ok());
  // PLT0 pushes once (CFA rsp + 16 after its first push); entries after it use the expression.
  const zt_unwind_row* r = RowAt(rows->rows, plt + 16 + 4);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->cfa_rule, ZT_UNWIND_CFA_PLT);
  EXPECT_EQ(r->cfa_offset, 8);
  EXPECT_GE(r->param, 10);
  EXPECT_LE(r->param, 11);
}

TEST(CfiRowsTest, OpenSslAssemblyKeepsTheCallersStackPointerInASlot) {
  // perlasm's `.cfi_cfa_expression %rsp+N,deref,+8` (AES, SHA, bignum code in libcrypto).
  Fd f("/usr/lib/x86_64-linux-gnu/libcrypto.so.3");
  ASSERT_GE(f.fd, 0) << "libssl3 is a dependency of the test setup";
  auto rows = ReadCfiRows(f.fd);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  const auto deref = std::count_if(rows->rows.begin(), rows->rows.end(), [](const auto& r) {
    return r.cfa_rule == ZT_UNWIND_CFA_DEREF_RSP && r.param == 8 &&
           r.rbp_rule != ZT_UNWIND_RBP_AT_CFA;
  });
  EXPECT_GT(deref, 20);
}

TEST(CfiRowsTest, TheEntryPointIsTheOutermostFrame) {
  // glibc's _start says its return address is undefined: a walk that reaches it is complete.
  Fd f("/proc/self/exe");
  auto rows = ReadCfiRows(f.fd);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  Fd g("/proc/self/exe");
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(g.fd, ELF_C_READ, nullptr);
  GElf_Ehdr eh;
  ASSERT_NE(gelf_getehdr(elf, &eh), nullptr);
  const zt_unwind_row* r = RowAt(rows->rows, eh.e_entry + 1);
  elf_end(elf);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->cfa_rule, ZT_UNWIND_CFA_END);
}

TEST(CfiRowsTest, BadFilesAreErrorsOrEmptyNeverACrash) {
  const std::string dir = zerotrace::testing::TempDir();
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
    return dir + "/" + name;
  };
  {
    Fd f(write("text", "not an ELF file at all"));
    EXPECT_FALSE(ReadCfiRows(f.fd).ok());
  }
  {
    Fd f(write("empty", ""));
    EXPECT_FALSE(ReadCfiRows(f.fd).ok());
  }
  // The first 64 KiB of libc: headers that point past the end of the file.
  std::ifstream in(LibcPath(), std::ios::binary);
  std::string head(65536, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  {
    Fd f(write("truncated.so", head));
    auto r = ReadCfiRows(f.fd);
    if (r.ok()) {
      EXPECT_TRUE(r->rows.empty());
    }
  }
  // The same with garbage in the middle of .eh_frame_hdr's place.
  std::ifstream whole(LibcPath(), std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(whole)), std::istreambuf_iterator<char>());
  for (size_t i = all.size() / 3; i < all.size() / 3 + 4096 && i < all.size(); ++i) {
    all[i] = static_cast<char>(i * 131);
  }
  {
    Fd f(write("garbled.so", all));
    (void)ReadCfiRows(f.fd);  // any result; no crash, no hang
  }
}

TEST(CfiRowsTest, MappingBiasMapsRuntimeAddressesToVirtualAddresses) {
  // A segment at file offset 0x1000, vaddr 0x401000, mapped at 0x7f0000001000 from offset 0x1000.
  const std::vector<LoadSegment> loads = {{0, 0x1000, 0x400000}, {0x1000, 0x5000, 0x401000}};
  uint64_t bias = 0;
  ASSERT_TRUE(MappingBias(loads, 0x7f0000001000, 0x1000, &bias));
  EXPECT_EQ(0x7f0000001234 - bias, 0x401234u);
  EXPECT_FALSE(MappingBias(loads, 0x7f0000001000, 0x9000, &bias));
}

}  // namespace
}  // namespace zerotrace::unwind
