#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::symbolizer {

// A symbol of the table: views into its KernelSymbols, valid while that table lives.
struct KernelSymbol {
  uint64_t address = 0;
  std::string_view name;
  std::string_view module;  // "[kernel.kallsyms]" for the core kernel, "[nf_tables]" for a module
};

// The kernel's symbol table as /proc/kallsyms lists it, sorted by address for binary search.
// Only text symbols (t/T/w/W) are kept: stacks contain nothing else. Stored compactly (16 bytes a
// symbol plus one buffer of names: ~5 MiB for a distro kernel's 120k-250k text symbols, where a
// string per name and module took ~25 MiB and fragmented the heap on every re-read).
class KernelSymbols {
 public:
  static Result<KernelSymbols> Parse(std::istream& in);
  static Result<KernelSymbols> Load(const std::string& path = "/proc/kallsyms");

  // The symbol containing `address` (the last one at or below it); nullopt below the first and
  // past a section's end marker (`_etext`, `_einittext`, `__*_end`): addresses there (BPF
  // programs, modules loaded since the table was read) belong to no listed function.
  std::optional<KernelSymbol> Find(uint64_t address) const;
  size_t size() const { return entries_.size(); }
  // Heap bytes the table holds.
  size_t memory_bytes() const;

 private:
  struct Entry {
    uint64_t address;
    uint32_t name_offset;  // into names_
    uint16_t name_length;
    uint16_t module;  // index into modules_
  };
  KernelSymbol View(const Entry& e) const;

  std::vector<Entry> entries_;
  std::string names_;
  std::vector<std::string> modules_;
};

inline constexpr const char* kKernelModule = "[kernel.kallsyms]";

// True for the names kallsyms gives a section's end (`_etext`, `__sched_text_end`, ...).
bool IsSectionEndMarker(std::string_view name);

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

  profile::Frame Symbolize(uint32_t pid, uint64_t address) override;
  size_t reloads() const { return reloads_.load(); }
  size_t memory_bytes() const override;

 private:
  mutable std::mutex mu_;
  KernelSymbols symbols_;
  std::string path_;
  std::chrono::milliseconds base_interval_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_reload_{};
  std::atomic<size_t> reloads_{0};
};

}  // namespace zerotrace::symbolizer
