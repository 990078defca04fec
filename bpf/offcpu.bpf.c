// SPDX-License-Identifier: GPL-2.0
/* Off-CPU profiling: at sched_switch the task leaving the CPU (the handler runs in its context,
 * so bpf_get_stackid returns its stacks) is remembered with a timestamp; when it is switched in
 * again the time it was blocked is added to (tgid, tid, kernel stack, user stack) in the kernel.
 * Two attach variants share one handler: tp_btf (direct BTF access, cheapest) and raw_tp; the
 * loader turns off whichever the kernel does not support. */
#include "common.bpf.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "offcpu.h"
#define ZT_STACK_DEPTH ZT_OFFCPU_STACK_DEPTH
#include "unwind/dwarf_walk.bpf.h"

#define EEXIST 17
#define EFAULT 14

/* Set by the loader before load. */
const volatile __u64 min_block_ns = 1000;
const volatile __u64 max_block_ns = (__u64)-1;
const volatile int state_filter = OFFCPU_STATE_ANY;
/* Record the stacks of one switch-out in this many (chosen at random), and weigh each recorded
 * block by it: two stack walks per switch are most of the probe's cost (about 5 us), and an
 * event-driven server switches about twice a request. 1 = every switch-out, exact. */
const volatile __u32 sample_one_in = 1;

struct switch_out {
  __u64 ts;
  __s32 kstack_id;
  __s32 ustack_id;
};

/* LRU: a task that exits while switched out never comes back; LRU keeps the map from filling. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, OFFCPU_DEFAULT_START_ENTRIES);
  __type(key, __u32);
  __type(value, struct switch_out);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, OFFCPU_DEFAULT_STACK_ENTRIES);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, ZT_OFFCPU_STACK_DEPTH * sizeof(__u64));
} stackmap SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, OFFCPU_DEFAULT_COUNT_ENTRIES);
  __type(key, struct offcpu_key);
  __type(value, struct offcpu_value);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, OFFCPU_DROP_MAX);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

static struct offcpu_value zero_value;

/* Linux 5.14 (commit 2f064a59a11f "sched: Change task_struct::state") renamed `state` to
 * `__state`; this shim reads whichever the running kernel has. */
struct task_struct___pre_5_14 {
  long state;
};

static __always_inline __s64 task_state(struct task_struct *t)
{
  if (bpf_core_field_exists(t->__state))
    return BPF_CORE_READ(t, __state);
  struct task_struct___pre_5_14 *old = (void *)t;
  return BPF_CORE_READ(old, state);
}

static __always_inline void count_drop(__u32 reason)
{
  __u64 *v = bpf_map_lookup_elem(&drops, &reason);
  if (v)
    *v += 1;
}

static __always_inline void check_stack(long id, __u32 collision, __u32 failed)
{
  if (id >= 0 || id == -EFAULT)
    return;
  count_drop(id == -EEXIST ? collision : failed);
}

static __always_inline bool state_selected(struct task_struct *prev)
{
  if (state_filter == OFFCPU_STATE_ANY)
    return true;
  return (task_state(prev) & 3) == state_filter;
}

static __always_inline void remember_switch_out(__u32 tid, __u64 ts, __s32 kstack_id,
                                                __s32 ustack_id)
{
  struct switch_out out = {.ts = ts, .kstack_id = kstack_id, .ustack_id = ustack_id};
  check_stack(ustack_id, OFFCPU_DROP_USTACK_COLLISION, OFFCPU_DROP_USTACK_FAILED);
  if (bpf_map_update_elem(&start, &tid, &out, BPF_ANY) != 0)
    count_drop(OFFCPU_DROP_START_FULL);
}

/* The task switched in: its time off CPU is added to the stacks it left with. */
static __always_inline void account_switch_in(struct task_struct *next, __u64 now)
{
  __u32 next_tid = BPF_CORE_READ(next, pid);
  struct switch_out *s = bpf_map_lookup_elem(&start, &next_tid);
  if (!s)
    return; /* switched out before we attached, not traced, or filtered by state */
  __u64 delta = now - s->ts;
  struct offcpu_key key = {
      .tgid = BPF_CORE_READ(next, tgid),
      .tid = next_tid,
      .kstack_id = s->kstack_id,
      .ustack_id = s->ustack_id,
  };
  bpf_map_delete_elem(&start, &next_tid);
  if (delta < min_block_ns || delta > max_block_ns)
    return;

  struct offcpu_value *v = bpf_map_lookup_elem(&counts, &key);
  if (!v) {
    bpf_map_update_elem(&counts, &key, &zero_value, BPF_NOEXIST);
    v = bpf_map_lookup_elem(&counts, &key);
    if (!v) {
      count_drop(OFFCPU_DROP_COUNTS_FULL);
      return;
    }
    BPF_CORE_READ_STR_INTO(&v->comm, next, comm);
  }
  /* Each recorded block stands for sample_one_in of them: totals stay unbiased estimates. */
  __u64 weight = sample_one_in > 1 ? sample_one_in : 1;
  __sync_fetch_and_add(&v->total_ns, delta * weight);
  __sync_fetch_and_add(&v->count, weight);
}

/* The switch-in is accounted first: the switch-out's user stack walk may continue in the
 * walker program (a tail call does not return). */
static __always_inline int handle_sched_switch(void *ctx, struct task_struct *prev,
                                               struct task_struct *next)
{
  __u64 now = bpf_ktime_get_ns();
  account_switch_in(next, now);

  __u32 prev_tid = BPF_CORE_READ(prev, pid);
  __u32 prev_tgid = BPF_CORE_READ(prev, tgid);
  if (prev_tid == 0 || !zt_is_traced(prev_tgid) || !state_selected(prev) ||
      (sample_one_in > 1 && bpf_get_prandom_u32() % sample_one_in != 0))
    return 0;
  __s32 kstack_id = bpf_get_stackid(ctx, &stackmap, 0);
  check_stack(kstack_id, OFFCPU_DROP_KSTACK_COLLISION, OFFCPU_DROP_KSTACK_FAILED);
  /* The handler runs in prev's context: its user registers are the task's saved ones. */
  struct zt_unwind_state *st = unwind_begin(NULL, prev_tgid, prev_tid);
  if (st) {
    st->kstack_id = kstack_id;
    st->aux = now;
    bpf_tail_call(ctx, &unwind_progs, 0);
  }
  remember_switch_out(prev_tid, now, kstack_id,
                      bpf_get_stackid(ctx, &stackmap, BPF_F_USER_STACK));
  return 0;
}

static __always_inline int walk_user_stack(void *ctx)
{
  struct zt_unwind_state *st = unwind_continue(ctx);
  if (!st)
    return 0;
  remember_switch_out(st->tid, st->aux, st->kstack_id, unwind_store(st));
  return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
  return handle_sched_switch(ctx, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
  return handle_sched_switch(ctx, prev, next);
}

/* The walker, one per attach kind (a tail call stays within one program type); loaded with
 * its variant above, never attached itself. */
SEC("tp_btf/sched_switch")
int unwind_walk_btf(void *ctx)
{
  return walk_user_stack(ctx);
}

SEC("raw_tp/sched_switch")
int unwind_walk_raw(void *ctx)
{
  return walk_user_stack(ctx);
}

char LICENSE[] SEC("license") = "GPL";
