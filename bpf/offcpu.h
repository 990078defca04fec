/* offcpu probe: kernel/user ABI. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ZT_OFFCPU_STACK_DEPTH 127
#define OFFCPU_DEFAULT_STACK_ENTRIES 16384
#define OFFCPU_DEFAULT_COUNT_ENTRIES 16384
#define OFFCPU_DEFAULT_START_ENTRIES 16384

/* Task-state filter values (the loader's `state_filter`). */
#define OFFCPU_STATE_ANY -1
#define OFFCPU_STATE_INTERRUPTIBLE 1   /* TASK_INTERRUPTIBLE: sleeps, waits for I/O on sockets */
#define OFFCPU_STATE_UNINTERRUPTIBLE 2 /* TASK_UNINTERRUPTIBLE: disk I/O, some locks */

/* Aggregation key; stack ids as in oncpu.h (>= 0 id, -EFAULT none, other negative lost). */
struct offcpu_key {
  __u32 tgid;
  __u32 tid;
  __s32 kstack_id;
  __s32 ustack_id;
};

struct offcpu_value {
  __u64 total_ns; /* time blocked, summed over `count` blocks */
  __u64 count;
  char comm[16];
};

enum offcpu_drop_reason {
  OFFCPU_DROP_KSTACK_COLLISION = 0,
  OFFCPU_DROP_USTACK_COLLISION = 1,
  OFFCPU_DROP_KSTACK_FAILED = 2,
  OFFCPU_DROP_USTACK_FAILED = 3,
  OFFCPU_DROP_COUNTS_FULL = 4, /* `counts` full: a block was not counted */
  OFFCPU_DROP_START_FULL = 5,  /* `start` full: a switch-out could not be remembered */
  OFFCPU_DROP_MAX = 6,
};
