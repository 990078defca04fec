#include "symbolizer/build_id.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace zerotrace::symbolizer {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 0xf]);
  }
  return out;
}

std::string FindInNotes(Elf_Data* data) {
  GElf_Nhdr nhdr;
  size_t off = 0, name_off = 0, desc_off = 0;
  while ((off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
    const char* name = static_cast<const char*>(data->d_buf) + name_off;
    if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
      return Hex(static_cast<const unsigned char*>(data->d_buf) + desc_off, nhdr.n_descsz);
    }
  }
  return {};
}

}  // namespace

Result<std::string> ReadBuildId(const FileLocation& file) {
  if (elf_version(EV_CURRENT) == EV_NONE) return Error{"libelf initialisation failed"};
  const int fd = OpenUntrustedFile(file, {.max_bytes = kMaxBinaryFileBytes});
  if (fd < 0) return Error{"cannot open " + file.Joined() + ": " + std::strerror(errno)};
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  std::string id;
  if (elf && elf_kind(elf) == ELF_K_ELF) {
    // Program headers first (always present in loaded objects), then sections.
    size_t phnum = 0;
    if (elf_getphdrnum(elf, &phnum) == 0) {
      for (size_t i = 0; i < phnum && id.empty(); ++i) {
        GElf_Phdr phdr;
        if (!gelf_getphdr(elf, static_cast<int>(i), &phdr) || phdr.p_type != PT_NOTE) continue;
        Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(phdr.p_offset),
                                              phdr.p_filesz, ELF_T_NHDR);
        if (data) id = FindInNotes(data);
      }
    }
    for (Elf_Scn* scn = nullptr; id.empty() && (scn = elf_nextscn(elf, scn)) != nullptr;) {
      GElf_Shdr shdr;
      if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE) continue;
      if (Elf_Data* data = elf_getdata(scn, nullptr)) id = FindInNotes(data);
    }
  }
  if (elf) elf_end(elf);
  close(fd);
  if (id.empty()) return Error{file.Joined() + ": no GNU build id"};
  return id;
}

}  // namespace zerotrace::symbolizer
