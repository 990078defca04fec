#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "profile/profile.h"

namespace zerotrace {

// One aggregated entry of a kernel counts map, drained (read and deleted) from the kernel.
// Stack ids are bpf_get_stackid() results: >= 0 an id, -EFAULT "no such stack", any other
// negative value a stack the kernel could not record (counted as a drop there).
struct RawStackCount {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  int32_t kstack_id = -1;
  int32_t ustack_id = -1;
  uint64_t count = 0;  // samples (on-CPU) or blocks (off-CPU)
  uint64_t value = 0;  // samples (on-CPU) or nanoseconds blocked (off-CPU)
  std::string comm;    // thread comm the kernel recorded
};

// What the profile collector needs from a stack-aggregating probe (OnCpuProbe, OffCpuProbe, and
// fakes in tests).
class StackSource {
 public:
  virtual ~StackSource() = default;
  virtual profile::ProfileType profile_type() const = 0;
  // On-CPU: nanoseconds one sample stands for. Off-CPU: 0.
  virtual uint64_t sample_period_ns() const = 0;
  // Everything counted since the last call; the kernel map is emptied.
  virtual Result<std::vector<RawStackCount>> Drain() = 0;
  // Addresses of stack `id`, leaf first. False when the id is unknown (cleared or never stored).
  virtual bool ReadStack(int32_t id, std::vector<uint64_t>* leaf_first) = 0;
  // Empties the stack map (ids become invalid). Called when it is getting full.
  virtual void ClearStacks() = 0;
  virtual void DeleteStack(int32_t id) = 0;
  // True when stacks should be deleted from the map as soon as they were read (each poll). On-CPU
  // stacks are many (every leaf address differs) and short-lived, so keeping them would fill the
  // hash buckets and make new stacks collide; off-CPU stacks are few and long-lived (a thread
  // switched out an hour ago still refers to its id), so they stay until the map is 3/4 full.
  virtual bool delete_stacks_after_read() const { return false; }
  virtual uint32_t stack_capacity() const = 0;
  // Frames per stack the map stores: a stack this long hit the limit and is truncated.
  virtual uint32_t max_stack_depth() const = 0;
  // Samples/blocks the kernel could not count (a full map), cumulative.
  virtual uint64_t kernel_drops() const = 0;
  // Samples counted without their kernel or user stack (a stack map bucket taken by another
  // stack, or the map full), cumulative: the sample is in the totals, its frames are not.
  virtual uint64_t kernel_stack_drops() const = 0;
  // User-stack walks by outcome (zt_unwind_stat order, cumulative); empty without a CFI walker.
  virtual std::vector<uint64_t> unwind_walk_stats() const { return {}; }
};

}  // namespace zerotrace
