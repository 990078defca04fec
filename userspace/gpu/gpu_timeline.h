#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "chrome/trace.h"
#include "gpu/kernel_names.h"

namespace zerotrace::gpu {

// The Chrome trace's data: the last `max_slices` slices (driver calls, launches, kernels,
// copies, memsets), launch → kernel arrows (the last max_slices / 2), and one track per GPU
// stream of each process. Not thread-safe (GpuAggregator holds its lock).
class GpuTimeline {
 public:
  // One retained slice, compact; turned into a chrome::Slice only when a trace is asked for.
  struct Record {
    enum class Kind : uint8_t { kDriverCall, kLaunch, kKernel, kMemcpy, kMemset };
    Kind kind = Kind::kDriverCall;
    uint32_t pid = 0;
    uint64_t tid = 0;  // thread, or a GPU track
    int64_t start_ns = 0;
    int64_t duration_ns = 0;
    const char* name = nullptr;    // static: the driver call / launch API
    const char* detail = nullptr;  // static: memcpy kind
    std::shared_ptr<const KernelNameCache::Names> kernel;
    uint64_t bytes = 0;
    uint32_t correlation_id = 0;
    uint32_t device = 0;
    uint32_t stream = 0;
    uint32_t registers = 0;
    int64_t shared_memory = 0;
    int64_t grid[3] = {0, 0, 0};
    int64_t block[3] = {0, 0, 0};
  };
  // A process's name on its trace row (its service).
  using ProcessName = std::function<std::string(uint32_t pid)>;

  explicit GpuTimeline(size_t max_slices) : max_slices_(max_slices) {}

  // The track (a tid above any real one) of (process, device, stream), named on first use.
  uint64_t GpuTrack(uint32_t pid, uint32_t device, uint32_t stream);
  void Add(Record r);
  // An arrow from a launch call on thread `from_tid` to its kernel on GPU track `to_tid`.
  void AddLaunchArrow(uint32_t pid, uint64_t from_tid, int64_t from_ns, uint64_t to_tid,
                      int64_t to_ns);
  // The retained slices and arrows that started at or after `since_ns`, of `pids` (empty: all).
  chrome::Trace Trace(const std::set<uint32_t>& pids, int64_t since_ns,
                      const ProcessName& name) const;
  // Forgets an exited process's tracks (its slices age out of the ring).
  void ForgetProcess(uint32_t pid);

 private:
  static chrome::Slice ToSlice(const Record& r);

  size_t max_slices_;
  std::deque<Record> records_;
  std::deque<chrome::Flow> flows_;
  uint64_t next_flow_id_ = 1;
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, uint64_t> gpu_tracks_;  // -> tid
  std::map<std::pair<uint32_t, uint64_t>, std::string> track_names_;
};

}  // namespace zerotrace::gpu
