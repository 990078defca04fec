/* syscalls probe: kernel/user ABI. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ZT_SYSCALL_HIST_SLOTS 32
#define ZT_SYSCALL_MAX_ENTRIES 16384
#define ZT_SYSCALL_START_SLOTS (1u << 18) /* calls in progress, indexed by tid; a power of two */

/* Aggregation key: one entry per (process, syscall number). */
struct syscall_key {
  __u32 tgid;
  __u32 nr;
};

/* Cumulative since the entry was created; userspace turns these into monotonic deltas. Slot i of
 * the histogram counts calls that took [2^i, 2^(i+1)) ns. */
struct syscall_stats {
  __u64 count;
  __u64 errors;
  __u64 total_ns;
  __u64 hist[ZT_SYSCALL_HIST_SLOTS];
  char comm[16];
};

/* Indexes of the `drops` array map. */
enum syscall_drop_reason {
  SYSCALL_DROP_STATS_FULL = 0,  /* `stats` map full: a call was not counted */
  SYSCALL_DROP_START_FULL = 1,  /* a call's latency was lost: another thread took its `start`
                                 * slot meanwhile (the call itself is still counted) */
  SYSCALL_DROP_MAX = 2,
};
