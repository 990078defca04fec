#include "symbolizer/elf_symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "symbolizer/build_id.h"

namespace zerotrace::symbolizer {
namespace {

// Every file opened here is named by the traced process (its maps, its debug link, files under
// its root): OpenUntrustedFile keeps the lookup inside the process's root and opens only
// regular files of a bounded size, non-blocking (a FIFO would block, /dev/zero never ends).
int OpenRegular(const FileLocation& file) {
  return OpenUntrustedFile(file, {.max_bytes = kMaxBinaryFileBytes});
}

bool Readable(const FileLocation& file) {
  const int fd = OpenRegular(file);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace

// Reads one ELF file into an ElfSymbols. A class (friend of ElfSymbols) so the symbol and segment
// layouts stay private.
class ElfSymbolsReader {
 public:
  explicit ElfSymbolsReader(ElfSymbols* out) : out_(out) {}

  struct Opened {
    int fd = -1;
    Elf* elf = nullptr;
    ~Opened() {
      if (elf) elf_end(elf);
      if (fd >= 0) close(fd);
    }
  };

  static bool Open(const FileLocation& file, Opened* o) {
    if (elf_version(EV_CURRENT) == EV_NONE) return false;
    o->fd = OpenRegular(file);
    if (o->fd < 0) return false;
    // ELF_C_READ, not ELF_C_READ_MMAP: libelf then reads the headers and each section asked
    // for with pread, so a file its container truncates while we read it gives a short read,
    // not a SIGBUS that would end the collector. (The same in every ELF reader here.)
    o->elf = elf_begin(o->fd, ELF_C_READ, nullptr);
    return o->elf && elf_kind(o->elf) == ELF_K_ELF;
  }

  void ReadSegments(Elf* elf) {
    size_t n = 0;
    if (elf_getphdrnum(elf, &n) != 0) return;
    for (size_t i = 0; i < n; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) {
        out_->segments_.push_back({ph.p_offset, ph.p_vaddr, ph.p_filesz});
      }
    }
  }

  // Function symbols of `elf` (SHT_SYMTAB only when `symtab_only`); true when it had a .symtab.
  bool ReadSymbols(Elf* elf, bool symtab_only) {
    bool has_symtab = false;
    size_t shstrndx = 0;
    elf_getshdrstrndx(elf, &shstrndx);
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn)) != nullptr;) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      if (sh.sh_type == SHT_PROGBITS && !symtab_only) {
        const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
        if (name && std::strcmp(name, ".gnu_debuglink") == 0) ReadDebugLink(scn);
        continue;
      }
      if (sh.sh_type != SHT_SYMTAB && (symtab_only || sh.sh_type != SHT_DYNSYM)) continue;
      if (sh.sh_type == SHT_SYMTAB) has_symtab = true;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (!data || sh.sh_entsize == 0) continue;
      const size_t count = sh.sh_size / sh.sh_entsize;
      for (size_t i = 0; i < count; ++i) {
        GElf_Sym s;
        if (!gelf_getsym(data, static_cast<int>(i), &s)) continue;
        const int type = GELF_ST_TYPE(s.st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF ||
            s.st_value == 0) {
          continue;
        }
        const char* name = elf_strptr(elf, sh.sh_link, s.st_name);
        if (!name || !*name) continue;
        out_->symbols_.push_back({s.st_value, s.st_size, static_cast<uint32_t>(names_.size())});
        names_.append(name).push_back('\0');
      }
    }
    return has_symtab;
  }

  void ReadDebugLink(Elf_Scn* scn) {
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || !data->d_buf || data->d_size < 8) return;
    const char* p = static_cast<const char*>(data->d_buf);
    const size_t len = strnlen(p, data->d_size);
    const size_t crc_at = (len + 4) & ~size_t{3};  // name, NUL, padding to 4
    if (len == 0 || crc_at + 4 > data->d_size) return;
    // A debug link is a file name, looked up in a few folders: one with a '/' ("../../dev/zero")
    // would reach outside them.
    if (std::string_view(p, len).find('/') != std::string_view::npos) return;
    debuglink_.assign(p, len);
    std::memcpy(&debuglink_crc_, p + crc_at, 4);
  }

  static bool CrcMatches(const FileLocation& file, uint32_t want) {
    const int fd = OpenRegular(file);
    if (fd < 0) return false;
    uLong crc = crc32(0L, Z_NULL, 0);
    char buf[64 * 1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
      crc = crc32(crc, reinterpret_cast<const Bytef*>(buf), static_cast<uInt>(n));
    }
    close(fd);
    return n == 0 && static_cast<uint32_t>(crc) == want;
  }

  // The separate debug file of `file`, if one is found: under the process's root first, then
  // in this mount namespace (debug packages installed beside the collector).
  std::optional<FileLocation> FindDebugFile(const FileLocation& file,
                                            const std::vector<std::string>& debug_dirs) const {
    std::vector<std::string> roots = {file.root};
    if (!file.root.empty()) roots.push_back("");
    if (auto id = ReadBuildId(file); id.ok() && id.value().size() > 2) {
      for (const auto& root : roots) {
        for (const auto& dir : debug_dirs) {
          FileLocation c{root, dir + "/.build-id/" + id.value().substr(0, 2) + "/" +
                                   id.value().substr(2) + ".debug"};
          if (Readable(c)) return c;
        }
      }
    }
    if (debuglink_.empty()) return std::nullopt;
    const size_t slash = file.path.rfind('/');
    const std::string folder = slash == std::string::npos ? "" : file.path.substr(0, slash);
    for (const auto& root : roots) {
      std::vector<FileLocation> candidates = {{root, folder + "/" + debuglink_},
                                              {root, folder + "/.debug/" + debuglink_}};
      for (const auto& dir : debug_dirs)
        candidates.push_back({root, dir + folder + "/" + debuglink_});
      for (const auto& c : candidates) {
        if (c.Joined() != file.Joined() && CrcMatches(c, debuglink_crc_)) return c;
      }
    }
    return std::nullopt;
  }

  void Finish() {
    auto& syms = out_->symbols_;
    std::sort(syms.begin(), syms.end(), [](const auto& a, const auto& b) {
      return a.start != b.start ? a.start < b.start : a.size > b.size;
    });
    // .symtab and .dynsym (and the debug file) name most functions more than once.
    syms.erase(std::unique(syms.begin(), syms.end(),
                           [](const auto& a, const auto& b) { return a.start == b.start; }),
               syms.end());
    syms.shrink_to_fit();
    out_->names_ = std::move(names_);
    out_->names_.shrink_to_fit();
  }

 private:
  ElfSymbols* out_;
  std::string names_;
  std::string debuglink_;
  uint32_t debuglink_crc_ = 0;
};

ElfSymbols ElfSymbols::Load(const Location& file, const std::vector<std::string>& debug_dirs) {
  ElfSymbols out;
  ElfSymbolsReader reader(&out);
  {
    ElfSymbolsReader::Opened main;
    if (!ElfSymbolsReader::Open(file, &main)) return out;
    reader.ReadSegments(main.elf);
    if (reader.ReadSymbols(main.elf, /*symtab_only=*/false)) {
      reader.Finish();
      return out;
    }
  }
  if (const auto debug = reader.FindDebugFile(file, debug_dirs)) {
    ElfSymbolsReader::Opened d;
    if (ElfSymbolsReader::Open(*debug, &d)) {
      out.from_debug_file_ = reader.ReadSymbols(d.elf, /*symtab_only=*/true);
    }
  }
  reader.Finish();
  return out;
}

uint64_t ElfSymbols::ToVaddr(uint64_t file_offset) const {
  for (const auto& s : segments_) {
    if (file_offset >= s.offset && file_offset < s.offset + s.filesz) {
      return file_offset - s.offset + s.vaddr;
    }
  }
  return file_offset;
}

std::optional<std::string_view> ElfSymbols::FunctionAt(uint64_t file_offset) const {
  const uint64_t vaddr = ToVaddr(file_offset);
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                             [](uint64_t v, const Symbol& s) { return v < s.start; });
  if (it == symbols_.begin()) return std::nullopt;
  const auto next = it;
  --it;
  // A symbol without a size (hand-written assembly) is taken to run to the next one, within 4 KiB.
  uint64_t end = it->start + it->size;
  if (it->size == 0) {
    end = it->start + 4096;
    if (next != symbols_.end()) end = std::min(end, next->start);
  }
  if (vaddr >= end) return std::nullopt;
  return std::string_view(names_.c_str() + it->name);
}

size_t ElfSymbols::memory_bytes() const {
  return sizeof(*this) + symbols_.capacity() * sizeof(Symbol) +
         segments_.capacity() * sizeof(Segment) + names_.capacity();
}

ElfSymbolsCache::ElfSymbolsCache(std::vector<std::string> debug_dirs, size_t max_files,
                                 size_t max_bytes)
    : debug_dirs_(std::move(debug_dirs)), max_files_(max_files), max_bytes_(max_bytes) {}

std::shared_ptr<const ElfSymbols> ElfSymbolsCache::Get(
    const Key& key, const std::vector<ElfSymbols::Location>& locations) {
  if (auto it = entries_.find(key); it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.symbols;
  }
  auto symbols = std::make_shared<ElfSymbols>();
  for (const auto& loc : locations) {
    *symbols = ElfSymbols::Load(loc, debug_dirs_);
    if (symbols->size() > 0) break;
  }
  lru_.push_front(key);
  entries_.emplace(key, Entry{symbols, lru_.begin()});
  bytes_ += symbols->memory_bytes();
  EvictOverBudget();
  return symbols;
}

void ElfSymbolsCache::EvictOverBudget() {
  // The newest entry stays even when it alone is over budget: its caller holds it anyway.
  while (entries_.size() > 1 && (entries_.size() > max_files_ || bytes_ > max_bytes_)) {
    auto it = entries_.find(lru_.back());
    bytes_ -= it->second.symbols->memory_bytes();
    entries_.erase(it);
    lru_.pop_back();
  }
}

}  // namespace zerotrace::symbolizer
