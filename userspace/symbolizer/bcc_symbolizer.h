#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "symbolizer/perf_map.h"
#include "symbolizer/proc_maps.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::symbolizer {

// User-space frames through bcc's symbol cache (ELF .symtab/.dynsym, .gnu_debuglink and build-id
// debug files, demangled C++ names, perf-PID.map), plus our own /proc/PID/maps snapshot for the
// `module+0xOFFSET` fallback and build ids, and our own perf map reader to mark JIT frames.
// One bcc cache per process, created at Prepare() while the process lives.
class BccUserSymbolizer : public Symbolizer {
 public:
  explicit BccUserSymbolizer(std::string proc_root = "/proc", std::string perf_map_dir = "/tmp");
  ~BccUserSymbolizer() override;
  BccUserSymbolizer(const BccUserSymbolizer&) = delete;
  BccUserSymbolizer& operator=(const BccUserSymbolizer&) = delete;

  void Prepare(uint32_t pid) override;
  flamegraph::Frame Symbolize(uint32_t pid, uint64_t address) override;
  void Forget(uint32_t pid) override;

  size_t processes() const { return procs_.size(); }

 private:
  struct Process {
    void* symcache = nullptr;
    ProcMaps maps;
    PerfMap perf_map;
    std::chrono::steady_clock::time_point maps_read;
    std::chrono::steady_clock::time_point perf_map_read;
  };

  Process& GetOrCreate(uint32_t pid);
  void RefreshMaps(uint32_t pid, Process& p, bool force);
  std::string BuildIdFor(uint32_t pid, const MapEntry& entry);

  std::string proc_root_;
  std::string perf_map_dir_;
  std::unordered_map<uint32_t, Process> procs_;
  // Build ids by (device, inode): the same file mapped by many processes is read once.
  std::map<std::pair<uint64_t, uint64_t>, std::string> build_ids_;
};

}  // namespace zerotrace::symbolizer
