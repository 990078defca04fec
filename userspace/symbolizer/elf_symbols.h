#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/untrusted_file.h"

namespace zerotrace::symbolizer {

// The function symbols of one ELF file, for turning file offsets of its mapped code into names.
// Read with libelf from .symtab and .dynsym; when the file has no .symtab (stripped, as
// distribution binaries are), the .symtab of its separate debug file is merged in: found by
// GNU build id (DEBUG_DIR/.build-id/ab/cdef….debug) or .gnu_debuglink (next to the file, in its
// .debug/ folder, or DEBUG_DIR/<its folder>/), the latter checked against the link's CRC.
// Immutable once loaded; names are kept in one buffer.
class ElfSymbols {
 public:
  // Where to look for files: `root` is a process's /proc/PID/root (files inside containers
  // resolve, and cannot lead out of it), "" this mount namespace.
  using Location = FileLocation;
  // Files larger than kMaxBinaryFileBytes are not read.
  // Empty symbols (no names, identity offsets) when the file cannot be read or is not ELF.
  static ElfSymbols Load(const Location& file, const std::vector<std::string>& debug_dirs);

  // The function containing the code at `file_offset` (an offset into the file, as
  // /proc/PID/maps gives them), raw (mangled) as in the symbol table.
  std::optional<std::string_view> FunctionAt(uint64_t file_offset) const;

  size_t size() const { return symbols_.size(); }
  bool from_debug_file() const { return from_debug_file_; }
  // Bytes held, for bounding caches.
  size_t memory_bytes() const;

 private:
  struct Symbol {
    uint64_t start = 0;
    uint64_t size = 0;
    uint32_t name = 0;  // offset into names_
  };
  struct Segment {
    uint64_t offset = 0;
    uint64_t vaddr = 0;
    uint64_t filesz = 0;
  };

  uint64_t ToVaddr(uint64_t file_offset) const;

  std::vector<Symbol> symbols_;  // sorted by start
  std::vector<Segment> segments_;
  std::string names_;
  bool from_debug_file_ = false;

  friend class ElfSymbolsReader;
};

// ElfSymbols by file identity (device, inode), bounded: the same library mapped by a thousand
// processes is read once, and the least recently used files go first when more than
// `max_files` are held or their symbols pass `max_bytes`.
class ElfSymbolsCache {
 public:
  explicit ElfSymbolsCache(std::vector<std::string> debug_dirs = {"/usr/lib/debug"},
                           size_t max_files = 512, size_t max_bytes = 64u << 20);

  using Key = std::pair<uint64_t, uint64_t>;  // (device, inode)
  // The file's symbols, loaded from the first location that reads as ELF.
  std::shared_ptr<const ElfSymbols> Get(const Key& key,
                                        const std::vector<ElfSymbols::Location>& locations);

  size_t files() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::shared_ptr<const ElfSymbols> symbols;
    std::list<Key>::iterator lru;
  };
  void EvictOverBudget();

  std::vector<std::string> debug_dirs_;
  size_t max_files_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::map<Key, Entry> entries_;
  std::list<Key> lru_;  // most recent first
};

}  // namespace zerotrace::symbolizer
