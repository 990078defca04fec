#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/result.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::symbolizer {

struct KernelSymbol {
  uint64_t address = 0;
  std::string name;
  std::string module;  // "[kernel.kallsyms]" for the core kernel, "[nf_tables]" for a module
};

// The kernel's symbol table as /proc/kallsyms lists it, sorted by address for binary search.
// Only text symbols (t/T/w/W) are kept: stacks contain nothing else.
class KernelSymbols {
 public:
  static Result<KernelSymbols> Parse(std::istream& in);
  static Result<KernelSymbols> Load(const std::string& path = "/proc/kallsyms");

  // The symbol containing `address` (the last one at or below it); nullptr below the first and
  // past a section's end marker (`_etext`, `_einittext`, `__*_end`): addresses there (BPF
  // programs, modules loaded since the table was read) belong to no listed function.
  const KernelSymbol* Find(uint64_t address) const;
  size_t size() const { return symbols_.size(); }

 private:
  std::vector<KernelSymbol> symbols_;
};

inline constexpr const char* kKernelModule = "[kernel.kallsyms]";

// True for the names kallsyms gives a section's end (`_etext`, `__sched_text_end`, ...).
bool IsSectionEndMarker(const std::string& name);

// Kernel frames: the pid is ignored. Thread-safe. An address no symbol holds re-reads the table
// when it came from a file: BPF programs (`bpf_prog_<tag>_<name>` with
// net.core.bpf_jit_kallsyms=1, zerotrace's own included) and modules appear after start. A read
// costs ~0.1 s of CPU, so reads are at least `reload_interval` apart, and that gap doubles (to
// 10 minutes) each time a read names nothing new (bpf_jit_kallsyms=0, unloaded programs).
class KallsymsSymbolizer : public Symbolizer {
 public:
  explicit KallsymsSymbolizer(KernelSymbols symbols, std::string path = "",
                              std::chrono::milliseconds reload_interval = std::chrono::seconds(10))
      : symbols_(std::move(symbols)),
        path_(std::move(path)),
        base_interval_(reload_interval),
        interval_(reload_interval) {}
  static Result<std::shared_ptr<KallsymsSymbolizer>> Create(
      const std::string& path = "/proc/kallsyms");

  flamegraph::Frame Symbolize(uint32_t pid, uint64_t address) override;
  size_t reloads() const { return reloads_.load(); }

 private:
  std::mutex mu_;
  KernelSymbols symbols_;
  std::string path_;
  std::chrono::milliseconds base_interval_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_reload_{};
  std::atomic<size_t> reloads_{0};
};

}  // namespace zerotrace::symbolizer
