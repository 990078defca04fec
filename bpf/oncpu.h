/* oncpu probe: kernel/user ABI. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Frames per stack the stack map stores (the kernel's default perf_event_max_stack). A stack with
 * exactly this many frames hit the limit: userspace marks it truncated. */
#define ZT_STACK_DEPTH 127
#define ONCPU_DEFAULT_STACK_ENTRIES 16384
#define ONCPU_DEFAULT_COUNT_ENTRIES 16384

/* Aggregation key. Stack ids are what bpf_get_stackid returned: >= 0 an id in `stackmap`,
 * -EFAULT no stack of that kind (a kernel thread has no user stack, a sample taken in user mode
 * no kernel stack), any other negative value a stack that could not be recorded (see drops). */
struct oncpu_key {
  __u32 tgid;
  __u32 tid; /* 0 unless the loader turned per_thread on */
  __s32 kstack_id;
  __s32 ustack_id;
};

struct oncpu_value {
  __u64 count;
  char comm[16];
};

/* Indexes of the per-CPU `drops` array. */
enum oncpu_drop_reason {
  ONCPU_DROP_KSTACK_COLLISION = 0, /* -EEXIST: another stack owns the hash bucket */
  ONCPU_DROP_USTACK_COLLISION = 1,
  ONCPU_DROP_KSTACK_FAILED = 2,    /* -ENOMEM and friends: stack map full */
  ONCPU_DROP_USTACK_FAILED = 3,
  ONCPU_DROP_COUNTS_FULL = 4,      /* `counts` full: the sample was not counted at all */
  ONCPU_DROP_MAX = 5,
};
