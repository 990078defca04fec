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
// on-CPU and off-CPU profilers share one). Per-process caches are bounded and dropped when the
// process exits (SweepExited), together with the wrapped symbolizer's state.
class CachingSymbolizer : public Symbolizer {
 public:
  explicit CachingSymbolizer(SymbolizerPtr inner, size_t max_entries_per_process = 65536);

  void Prepare(uint32_t pid) override;
  flamegraph::Frame Symbolize(uint32_t pid, uint64_t address) override;
  void Forget(uint32_t pid) override;

  // Forgets processes `alive` says are gone, one call after they were first seen dead: samples
  // still queued in the kernel when a process exits are resolved with its snapshot in between.
  // Returns the pids forgotten.
  std::vector<uint32_t> SweepExited(const std::function<bool(uint32_t)>& alive);

  size_t cached_processes() const;
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  SymbolizerPtr inner_;
  size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, std::unordered_map<uint64_t, flamegraph::Frame>> cache_;
  std::unordered_set<uint32_t> dying_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

// True while /proc/PID exists.
bool ProcessAlive(uint32_t pid, const std::string& proc_root = "/proc");

}  // namespace zerotrace::symbolizer
