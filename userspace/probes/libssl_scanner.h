#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace zerotrace {

// Finds the libssl files processes map, for the TLS uprobes, and decides when to look at which
// process: every process at start-up and periodically (All), or one process soon after it
// execs or opens its first connection (Queue, then TakeDue with a per-second budget).
class LibsslScanner {
 public:
  using Clock = std::chrono::steady_clock;
  // dev:inode of the file (one file seen through many mounts) -> a path to it usable from here,
  // through the mapping process's root so libraries inside containers resolve from the host.
  using Files = std::map<std::string, std::string>;

  static constexpr size_t kMaxPending = 4096;     // an exec storm must not grow the queue
  static constexpr int kScansPerSecond = 200;     // /proc reads a second for targeted scans
  static constexpr size_t kMaxFirstSeen = 65536;  // processes remembered as already scanned

  explicit LibsslScanner(std::string proc_root) : proc_root_(std::move(proc_root)) {}

  // Every process under proc_root.
  Files All() const;
  // One process; nothing when it is gone.
  Files Of(uint32_t pid) const;

  // Asks for a scan of `pid` at `now + delay` (dropped when kMaxPending scans wait already).
  void Queue(uint32_t pid, std::chrono::milliseconds delay, Clock::time_point now);
  // Queues `pid` for a scan now the first time it is named (its first connection).
  void QueueFirstSeen(uint32_t pid, Clock::time_point now);
  // The pids whose time has come, at most what is left of this second's budget; the rest wait.
  std::vector<uint32_t> TakeDue(Clock::time_point now);
  size_t pending() const;

 private:
  std::string proc_root_;
  mutable std::mutex mu_;
  std::deque<std::pair<uint32_t, Clock::time_point>> pending_;
  std::unordered_set<uint32_t> first_seen_;
  Clock::time_point budget_second_{};
  int budget_used_ = 0;
};

}  // namespace zerotrace
