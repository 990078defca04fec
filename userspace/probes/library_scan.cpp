#include "probes/library_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/untrusted_file.h"

namespace zerotrace::gpu {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<uint32_t> AllPids(const std::string& proc_root) {
  std::vector<uint32_t> pids;
  DIR* d = opendir(proc_root.c_str());
  if (!d) return pids;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const unsigned long v = std::strtoul(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) pids.push_back(static_cast<uint32_t>(v));
  }
  closedir(d);
  return pids;
}

bool StatUntrusted(const FileLocation& file, struct stat* st) {
  const int fd = OpenUntrustedFile(file, {.max_bytes = kMaxBinaryFileBytes});
  if (fd < 0) return false;
  const bool ok = fstat(fd, st) == 0;
  close(fd);
  return ok;
}

void ScanOne(const std::string& proc_root, uint32_t pid, const LibraryMatcher& match,
             std::map<std::pair<dev_t, ino_t>, MappedLibrary>* out) {
  const std::string base = proc_root + "/" + std::to_string(pid);
  std::ifstream maps(base + "/maps");
  if (!maps) return;
  std::string line;
  std::set<std::string> seen;
  while (std::getline(maps, line)) {
    // addr perms offset dev inode path
    std::istringstream in(line);
    std::string addr, perms, offset, dev, inode, path;
    if (!(in >> addr >> perms >> offset >> dev >> inode)) continue;
    std::getline(in >> std::ws, path);
    if (path.empty() || path[0] != '/' || perms.size() < 3 || perms[2] != 'x') continue;
    if (EndsWith(path, " (deleted)") || !match(path) || !seen.insert(path).second) continue;
    // Looked up inside the process's root (a container's links cannot lead to a host file);
    // without access to it (or not a container), the path as mapped.
    FileLocation file{base + "/root", path};
    struct stat st;
    if (!StatUntrusted(file, &st)) {
      file = FileLocation{"", path};
      if (!StatUntrusted(file, &st)) continue;
    }
    const std::string open_path = file.Joined();
    auto& lib = (*out)[{st.st_dev, st.st_ino}];
    if (lib.path.empty()) {
      lib.path = open_path;
      lib.mapped_path = path;
      lib.device = st.st_dev;
      lib.inode = st.st_ino;
    }
    lib.pids.insert(pid);
  }
}

}  // namespace

std::map<std::pair<dev_t, ino_t>, MappedLibrary> ScanMappedLibraries(
    const std::string& proc_root, const std::vector<uint32_t>& pids, const LibraryMatcher& match) {
  std::map<std::pair<dev_t, ino_t>, MappedLibrary> out;
  for (uint32_t pid : pids.empty() ? AllPids(proc_root) : pids)
    ScanOne(proc_root, pid, match, &out);
  return out;
}

bool ProcessMaps(const std::string& proc_root, uint32_t pid, const LibraryMatcher& match) {
  std::ifstream maps(proc_root + "/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string addr, perms, offset, dev, inode, path;
    if (!(in >> addr >> perms >> offset >> dev >> inode)) continue;
    std::getline(in >> std::ws, path);
    if (!path.empty() && perms.size() >= 3 && perms[2] == 'x' && match(path)) return true;
  }
  return false;
}

std::set<std::string> DefinedFunctions(const std::string& path) {
  std::set<std::string> out;
  if (elf_version(EV_CURRENT) == EV_NONE) return out;
  const int fd = OpenUntrustedFile(SplitProcessRoot(path), {.max_bytes = kMaxBinaryFileBytes});
  if (fd < 0) return out;
  if (Elf* elf = elf_begin(fd, ELF_C_READ, nullptr)) {
    Elf_Scn* scn = nullptr;
    while ((scn = elf_nextscn(elf, scn)) != nullptr) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
          sh.sh_entsize == 0) {
        continue;
      }
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (!data) continue;
      for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, static_cast<int>(i), &sym) || sym.st_shndx == SHN_UNDEF ||
            GELF_ST_TYPE(sym.st_info) != STT_FUNC) {
          continue;
        }
        if (const char* name = elf_strptr(elf, sh.sh_link, sym.st_name); name && *name) {
          out.insert(name);
        }
      }
    }
    elf_end(elf);
  }
  close(fd);
  return out;
}

bool IsLibcudaPath(const std::string& path) {
  return EndsWith(path, "/libcuda.so.1") || EndsWith(path, "/libcuda.so");
}

bool IsCuptiInjectorPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  return path.find("libzerotrace_cupti", slash == std::string::npos ? 0 : slash) !=
         std::string::npos;
}

}  // namespace zerotrace::gpu
