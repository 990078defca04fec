#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "profile/profile.h"

namespace zerotrace::symbolizer {

// Turns one instruction address into a frame. Implementations never fail: an address they
// cannot name keeps `module+0xOFFSET` (or the bare address) so no frame vanishes from a profile.
// Not thread-safe unless an implementation says so; CachingSymbolizer adds a lock.
class Symbolizer {
 public:
  virtual ~Symbolizer() = default;

  // Captures what later lookups of `pid` need while the process still lives (its memory map,
  // the symbol cache of its binaries), so a process that exits mid-profile is still symbolized.
  virtual void Prepare(uint32_t /*pid*/) {}
  virtual profile::Frame Symbolize(uint32_t pid, uint64_t address) = 0;
  // Drops everything kept for `pid` (the process exited).
  virtual void Forget(uint32_t /*pid*/) {}
  // Heap bytes held (tables, caches), for zerotrace_symbolizer_memory_bytes. May be approximate.
  virtual size_t memory_bytes() const { return 0; }
};

using SymbolizerPtr = std::shared_ptr<Symbolizer>;

}  // namespace zerotrace::symbolizer
