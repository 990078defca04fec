#include "process/go_executable.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace zerotrace {

bool IsGoExecutable(const std::string& path) {
  // O_NONBLOCK: a FIFO planted where an executable is expected must not block the collector.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st {};
  bool go = false;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (4ll << 30) &&
      elf_version(EV_CURRENT) != EV_NONE) {
    if (Elf* elf = elf_begin(fd, ELF_C_READ, nullptr)) {
      size_t shstrndx = 0;
      if (elf_kind(elf) == ELF_K_ELF && elf_getshdrstrndx(elf, &shstrndx) == 0) {
        for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn && !go; scn = elf_nextscn(elf, scn)) {
          GElf_Shdr shdr;
          if (!gelf_getshdr(scn, &shdr)) break;
          const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
          go = name && (std::strcmp(name, ".go.buildinfo") == 0 ||
                        std::strcmp(name, ".note.go.buildid") == 0);
        }
      }
      elf_end(elf);
    }
  }
  close(fd);
  return go;
}

}  // namespace zerotrace
