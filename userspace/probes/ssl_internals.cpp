#include "probes/ssl_internals.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "core/untrusted_file.h"

namespace zerotrace {
namespace {

// The wrappers are a few instructions long; their call to the internal function comes first.
constexpr uint64_t kWrapperBytes = 64;

struct Section {
  uint64_t addr = 0, size = 0, offset = 0;
  Elf_Data* data = nullptr;
};

struct ElfFile {
  int fd = -1;
  Elf* elf = nullptr;
  ~ElfFile() {
    if (elf) elf_end(elf);
    if (fd >= 0) close(fd);
  }
};

// Targets of every rel32 call/jmp opcode byte (0xe8/0xe9) in the first bytes of the function at
// `addr` that land inside the same section. Scanning bytes rather than decoding instructions can
// yield a spurious target, which the intersection of the two wrappers' targets removes.
std::set<uint64_t> CallTargets(const Section& text, uint64_t addr) {
  std::set<uint64_t> out;
  if (addr < text.addr || addr >= text.addr + text.size) return out;
  const auto* bytes = static_cast<const uint8_t*>(text.data->d_buf);
  const uint64_t start = addr - text.addr;
  const uint64_t end = std::min<uint64_t>(start + kWrapperBytes, text.data->d_size);
  for (uint64_t i = start; i + 5 <= end; ++i) {
    if (bytes[i] != 0xe8 && bytes[i] != 0xe9) continue;
    int32_t rel = 0;
    std::memcpy(&rel, bytes + i + 1, sizeof(rel));
    const uint64_t target = text.addr + i + 5 + static_cast<int64_t>(rel);
    if (target >= text.addr && target < text.addr + text.size && target != addr) {
      out.insert(target);
    }
  }
  return out;
}

std::optional<uint64_t> Common(const Section& text, uint64_t a, uint64_t b) {
  const std::set<uint64_t> ta = CallTargets(text, a), tb = CallTargets(text, b);
  std::vector<uint64_t> both;
  for (uint64_t t : ta) {
    if (tb.count(t)) both.push_back(t);
  }
  if (both.size() != 1) return std::nullopt;
  return both.front();
}

}  // namespace

std::optional<SslInternals> FindSslInternals(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return std::nullopt;
  ElfFile f;
  // The path is under a traced process's root: opened inside it, size-bounded.
  f.fd = OpenUntrustedFile(SplitProcessRoot(path), {.max_bytes = kMaxBinaryFileBytes});
  if (f.fd < 0) return std::nullopt;
  f.elf = elf_begin(f.fd, ELF_C_READ, nullptr);
  if (!f.elf || elf_kind(f.elf) != ELF_K_ELF) return std::nullopt;
  GElf_Ehdr ehdr;
  if (!gelf_getehdr(f.elf, &ehdr) || ehdr.e_machine != EM_X86_64) return std::nullopt;

  std::map<std::string, uint64_t> wanted = {
      {"SSL_read", 0}, {"SSL_read_ex", 0}, {"SSL_write", 0}, {"SSL_write_ex", 0}};
  std::vector<Section> exec_sections;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(f.elf, scn)) != nullptr) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    if (sh.sh_type == SHT_PROGBITS && (sh.sh_flags & SHF_EXECINSTR)) {
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (data && data->d_buf && data->d_size == sh.sh_size) {
        exec_sections.push_back({sh.sh_addr, sh.sh_size, sh.sh_offset, data});
      }
    }
    if (sh.sh_type != SHT_DYNSYM) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || sh.sh_entsize == 0) continue;
    for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; ++i) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym) || sym.st_shndx == SHN_UNDEF ||
          GELF_ST_TYPE(sym.st_info) != STT_FUNC) {
        continue;
      }
      const char* name = elf_strptr(f.elf, sh.sh_link, sym.st_name);
      if (!name) continue;
      auto it = wanted.find(name);
      if (it != wanted.end()) it->second = sym.st_value;
    }
  }
  for (const auto& [name, addr] : wanted) {
    if (addr == 0) return std::nullopt;
  }
  // The section holding the wrappers; the internal functions must be in it too (not a PLT stub).
  const Section* text = nullptr;
  for (const auto& s : exec_sections) {
    if (wanted["SSL_read"] >= s.addr && wanted["SSL_read"] < s.addr + s.size) text = &s;
  }
  if (!text) return std::nullopt;
  const auto read = Common(*text, wanted["SSL_read"], wanted["SSL_read_ex"]);
  const auto write = Common(*text, wanted["SSL_write"], wanted["SSL_write_ex"]);
  if (!read || !write || *read == *write) return std::nullopt;
  return SslInternals{*read - text->addr + text->offset, *write - text->addr + text->offset};
}

}  // namespace zerotrace
