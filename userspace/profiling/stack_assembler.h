#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "probes/stack_source.h"
#include "profile/profile.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::profiling {

// Marker frames for stacks that are not there. They keep the sample's value visible instead of
// folding it into a shorter, wrong stack.
inline constexpr const char* kLostUserStack = "[lost user stack]";
inline constexpr const char* kLostKernelStack = "[lost kernel stack]";

struct Symbolizers {
  symbolizer::SymbolizerPtr kernel;
  symbolizer::SymbolizerPtr user;
};

// Turns one drained kernel entry into a symbolized StackSample, root first: user frames from
// the outermost caller to the leaf, then the kernel frames (syscall entry to the leaf) on top.
// Resolved stacks are cached by stack id (kernel) and (pid, id) (user: the same addresses mean
// different code in different processes); ids stay valid until the stack map is cleared.
class StackAssembler {
 public:
  StackAssembler(StackSource& source, Symbolizers symbolizers);

  profile::StackSample Assemble(const RawStackCount& raw, const std::string& process_name);

  // Ends a poll: with a source that deletes stacks after reading (on-CPU), deletes the ids the
  // previous poll used and this one did not from the map and our caches; otherwise empties the map
  // and the caches once 3/4 of its capacity is in use, so new stacks keep finding room. Returns
  // true when it removed anything.
  bool EndPoll();
  void ForgetProcess(uint32_t pid);

  size_t distinct_stacks() const { return ids_seen_.size(); }
  // Stacks whose id was gone when we read it (cleared map); kernel-side failures are counted
  // in the probe's drops instead.
  uint64_t lost_stacks() const { return lost_stacks_; }

 private:
  struct Cached {
    std::vector<profile::Frame> root_first;
    bool truncated = false;
    bool lost = false;
  };
  const Cached& Resolve(uint32_t pid, int32_t id, bool user);

  StackSource& source_;
  Symbolizers symbolizers_;
  std::unordered_map<int32_t, Cached> kernel_;
  std::unordered_map<uint64_t, Cached> user_;  // key: pid << 32 | id
  std::unordered_set<int32_t> ids_seen_;       // ids used since the last EndPoll (or clear)
  std::unordered_set<int32_t> previous_ids_;   // ids the poll before used (delete mode)
  std::vector<uint64_t> scratch_;
  std::atomic<uint64_t> lost_stacks_{0};
};

}  // namespace zerotrace::profiling
