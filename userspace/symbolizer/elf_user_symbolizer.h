#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "symbolizer/elf_symbols.h"
#include "symbolizer/perf_map.h"
#include "symbolizer/proc_maps.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::symbolizer {

// User-space frames: the process's /proc/PID/maps snapshot names the file and offset, the file's
// ELF symbols (ElfSymbols: .symtab/.dynsym, separate debug files by build id or debuglink) name
// the function, demangled; JIT code is named by the runtime's perf-PID.map and marked. Files are
// read through /proc/PID/root (containers), their symbols shared by all processes mapping them.
//
// Not bcc's symbol cache: the bcc in Debian 12 (0.26) closes a random descriptor of the calling
// process whenever it builds a cache (an uninitialised ModulePath::fd_, fixed upstream in 0.33),
// which in a long-running daemon closed our listening socket and BPF map descriptors.
class ElfUserSymbolizer : public Symbolizer {
 public:
  explicit ElfUserSymbolizer(std::string proc_root = "/proc", std::string perf_map_dir = "/tmp",
                             std::vector<std::string> debug_dirs = {"/usr/lib/debug"});

  void Prepare(uint32_t pid) override;
  profile::Frame Symbolize(uint32_t pid, uint64_t address) override;
  void Forget(uint32_t pid) override;

  size_t processes() const { return procs_.size(); }
  // The symbol tables of the files held (the bulk; maps and perf maps are small).
  size_t memory_bytes() const override { return files_.bytes(); }
  const ElfSymbolsCache& files() const { return files_; }

 private:
  struct Process {
    ProcMaps maps;
    PerfMap perf_map;
    std::chrono::steady_clock::time_point maps_read;
  };

  Process& GetOrCreate(uint32_t pid);
  // Re-reads the maps (at most every 500 ms unless forced) and the perf map; true when a new
  // snapshot of the maps was taken.
  bool RefreshMaps(uint32_t pid, Process& p, bool force);
  std::string BuildIdFor(uint32_t pid, const MapEntry& entry);
  std::string ProcessRoot(uint32_t pid) const;

  std::string proc_root_;
  std::string perf_map_dir_;
  std::unordered_map<uint32_t, Process> procs_;
  ElfSymbolsCache files_;
  // Build ids by (device, inode): the same file mapped by many processes is read once.
  std::map<std::pair<uint64_t, uint64_t>, std::string> build_ids_;
};

}  // namespace zerotrace::symbolizer
