#include "probes/ssl_internals.h"

#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

namespace zerotrace {
namespace {

const std::string kLibssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";  // Debian's libssl3

// File offsets of the public functions, read independently of the code under test.
std::map<std::string, uint64_t> PublicOffsets(const std::string& path) {
  std::map<std::string, uint64_t> out;
  elf_version(EV_CURRENT);
  const int fd = open(path.c_str(), O_RDONLY);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  Elf_Scn* scn = nullptr;
  std::vector<GElf_Shdr> sections;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr sh;
    gelf_getshdr(scn, &sh);
    sections.push_back(sh);
    if (sh.sh_type != SHT_DYNSYM) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; ++i) {
      GElf_Sym sym;
      gelf_getsym(data, static_cast<int>(i), &sym);
      const std::string name = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (name.rfind("SSL_read", 0) == 0 || name.rfind("SSL_write", 0) == 0) {
        out[name] = sym.st_value;
      }
    }
  }
  for (auto& [name, addr] : out) {
    for (const auto& sh : sections) {
      if (sh.sh_type == SHT_PROGBITS && addr >= sh.sh_addr && addr < sh.sh_addr + sh.sh_size) {
        addr = addr - sh.sh_addr + sh.sh_offset;
      }
    }
  }
  elf_end(elf);
  close(fd);
  return out;
}

// The bytes of `path` at file offset `off`.
std::string BytesAt(const std::string& path, uint64_t off, size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(off));
  std::string b(n, '\0');
  in.read(b.data(), static_cast<std::streamsize>(n));
  return b;
}

TEST(SslInternalsTest, FindsTheFunctionsBothPublicVariantsCall) {
  ASSERT_TRUE(std::filesystem::exists(kLibssl)) << "Debian's libssl3 (x86_64) is expected";
  const auto found = FindSslInternals(kLibssl);
  ASSERT_TRUE(found.has_value());
  EXPECT_NE(found->read_offset, found->write_offset);
  const auto pub = PublicOffsets(kLibssl);
  ASSERT_EQ(pub.count("SSL_read_ex"), 1u);
  // SSL_read_ex is `sub $8,%rsp; call ssl_read_internal; ...` in OpenSSL 3 builds: the call's
  // target, decoded here by hand, is what was found. Likewise for SSL_write_ex.
  for (const auto& [name, want] :
       {std::pair<std::string, uint64_t>{"SSL_read_ex", found->read_offset},
        {"SSL_write_ex", found->write_offset}}) {
    const std::string code = BytesAt(kLibssl, pub.at(name), 9);
    ASSERT_EQ(static_cast<uint8_t>(code[4]), 0xe8) << name << ": not the expected prologue";
    int32_t rel = 0;
    std::memcpy(&rel, code.data() + 5, 4);
    EXPECT_EQ(pub.at(name) + 9 + static_cast<int64_t>(rel), want) << name;
  }
  // Neither is a public function itself.
  for (const auto& [name, off] : pub) {
    EXPECT_NE(off, found->read_offset) << name;
    EXPECT_NE(off, found->write_offset) << name;
  }
}

TEST(SslInternalsTest, AnythingElseIsNotFoundAndNothingBreaks) {
  const std::string dir = ::testing::TempDir();
  EXPECT_FALSE(FindSslInternals(dir + "/no-such-file").has_value());
  std::ofstream(dir + "/not-elf") << "just text, not an ELF file\n";
  EXPECT_FALSE(FindSslInternals(dir + "/not-elf").has_value());
  // An ELF without OpenSSL: this test binary.
  EXPECT_FALSE(FindSslInternals("/proc/self/exe").has_value());
  // libcrypto has no SSL_read.
  EXPECT_FALSE(FindSslInternals("/usr/lib/x86_64-linux-gnu/libcrypto.so.3").has_value());
  // A libssl cut short (a truncated copy, a file being written): no crash, no result.
  const std::string whole = BytesAt(kLibssl, 0, 1 << 20);
  for (size_t size : {size_t{64}, size_t{4096}, whole.size() / 2}) {
    const std::string cut = dir + "/libssl-cut-" + std::to_string(size);
    std::ofstream(cut, std::ios::binary) << whole.substr(0, size);
    EXPECT_FALSE(FindSslInternals(cut).has_value()) << size;
  }
}

}  // namespace
}  // namespace zerotrace
