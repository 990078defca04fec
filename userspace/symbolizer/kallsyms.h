#pragma once

#include <cstdint>
#include <iosfwd>
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

  // The symbol containing `address` (the last one at or below it), nullptr below the first.
  const KernelSymbol* Find(uint64_t address) const;
  size_t size() const { return symbols_.size(); }

 private:
  std::vector<KernelSymbol> symbols_;
};

inline constexpr const char* kKernelModule = "[kernel.kallsyms]";

// Kernel frames: the pid is ignored. Thread-safe (read-only after construction).
class KallsymsSymbolizer : public Symbolizer {
 public:
  explicit KallsymsSymbolizer(KernelSymbols symbols) : symbols_(std::move(symbols)) {}
  static Result<std::shared_ptr<KallsymsSymbolizer>> Create(
      const std::string& path = "/proc/kallsyms");

  flamegraph::Frame Symbolize(uint32_t pid, uint64_t address) override;

 private:
  KernelSymbols symbols_;
};

}  // namespace zerotrace::symbolizer
