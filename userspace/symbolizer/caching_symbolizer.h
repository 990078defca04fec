#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "symbolizer/symbolizer.h"

namespace zerotrace::symbolizer {

// Memoizes (pid, address) -> frame in front of another symbolizer, and makes it thread-safe (the
// on-CPU and off-CPU profilers share one). The cache is bounded in total, not per process: a
// per-process bound let every long-lived process of a node hold its own 65536 frames (the 30-min
// soak's heap grew by tens of MiB that way). Past the bound, the largest process's cache is
// dropped (it refills on demand). A process's cache goes when it exits (SweepExited), together
// with the wrapped symbolizer's state.
class CachingSymbolizer : public Symbolizer {
 public:
  explicit CachingSymbolizer(SymbolizerPtr inner, size_t max_entries = 65536);

  void Prepare(uint32_t pid) override;
  profile::Frame Symbolize(uint32_t pid, uint64_t address) override;
  void Forget(uint32_t pid) override;

  // Forgets processes `alive` says are gone, one call after they were first seen dead: samples
  // still queued in the kernel when a process exits are resolved with its snapshot in between.
  // Returns the pids forgotten.
  std::vector<uint32_t> SweepExited(const std::function<bool(uint32_t)>& alive);

  size_t cached_processes() const;
  size_t cached_frames() const;
  // The cached frames (approximately) plus what the wrapped symbolizer holds.
  size_t memory_bytes() const override;
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  void Drop(const std::unordered_map<uint64_t, profile::Frame>& frames);

  SymbolizerPtr inner_;
  size_t max_entries_;
  size_t entries_ = 0;      // frames over all processes
  size_t frame_bytes_ = 0;  // their approximate heap size
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, std::unordered_map<uint64_t, profile::Frame>> cache_;
  std::unordered_set<uint32_t> dying_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace zerotrace::symbolizer
