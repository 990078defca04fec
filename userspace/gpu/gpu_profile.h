#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "profile/profile.h"

namespace zerotrace::gpu {

using Frames = std::vector<profile::Frame>;  // root first
using FramesPtr = std::shared_ptr<const Frames>;

// The GPU flamegraph's data: kernel execution time by (process, CPU launch stack, kernel),
// cumulative since start (at most `max_stacks` distinct stacks, then the time counts under the
// kernel alone) and per recording (unbounded, for its duration). Stacks are interned by the
// caller: the same pointer is the same stack. Not thread-safe (GpuAggregator holds its lock).
class GpuProfile {
 public:
  using RecordingId = uint64_t;
  // A process's name on the stacks' root (its service).
  using ProcessName = std::function<std::string(uint32_t pid)>;

  explicit GpuProfile(size_t max_stacks) : max_stacks_(max_stacks) {}

  // `ns` of kernel execution of `kernel`, launched by `pid` from `stack` (null: unknown site).
  void Add(uint32_t pid, const FramesPtr& stack, const std::string& kernel, uint64_t ns);
  // The cumulative profile of `pids` (empty = all), type kGpu: launch stack + `[gpu] kernel`.
  profile::Profile Cumulative(const std::set<uint32_t>& pids, const ProcessName& name) const;
  // A recording collects the kernels added between Start and Stop, for `pids` (empty = all).
  RecordingId StartRecording(std::set<uint32_t> pids);
  profile::Profile StopRecording(RecordingId id, const ProcessName& name);

 private:
  struct Key {
    uint32_t pid;
    const Frames* stack;  // interned: same pointer = same stack
    std::string kernel;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry {
    FramesPtr stack;
    uint64_t ns = 0;
  };
  using Samples = std::unordered_map<Key, Entry, KeyHash>;
  struct Recording {
    std::set<uint32_t> pids;
    Samples samples;
  };
  static profile::Profile ToProfile(const Samples& samples, const std::set<uint32_t>& pids,
                                    const ProcessName& name);

  size_t max_stacks_;
  Samples cumulative_;
  std::map<RecordingId, Recording> recordings_;
  RecordingId next_recording_ = 1;
};

}  // namespace zerotrace::gpu
