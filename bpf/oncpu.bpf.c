// SPDX-License-Identifier: GPL-2.0
/* On-CPU profiling: a software cpu-clock perf event fires N times a second on every CPU; each
 * sample of a traced process counts one (tgid, [tid], kernel stack, user stack) in the kernel.
 * Userspace reads (and empties) `counts` periodically and resolves the stack ids in `stackmap`. */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include "oncpu.h"
#include "unwind/dwarf_walk.bpf.h"

#define EEXIST 17
#define EFAULT 14

/* Set by the loader before load. */
const volatile bool per_thread = false;

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, ONCPU_DEFAULT_STACK_ENTRIES);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, ZT_STACK_DEPTH * sizeof(__u64));
} stackmap SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ONCPU_DEFAULT_COUNT_ENTRIES);
  __type(key, struct oncpu_key);
  __type(value, struct oncpu_value);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, ONCPU_DROP_MAX);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

static struct oncpu_value zero_value;

static __always_inline void count_drop(__u32 reason)
{
  __u64 *v = bpf_map_lookup_elem(&drops, &reason);
  if (v)
    *v += 1;
}

/* -EFAULT means "no stack of this kind" and is not a loss; every other error is counted. */
static __always_inline void check_stack(long id, __u32 collision, __u32 failed)
{
  if (id >= 0 || id == -EFAULT)
    return;
  count_drop(id == -EEXIST ? collision : failed);
}

static __always_inline void count_sample(struct oncpu_key *key)
{
  struct oncpu_value *v = bpf_map_lookup_elem(&counts, key);
  if (!v) {
    bpf_map_update_elem(&counts, key, &zero_value, BPF_NOEXIST);
    v = bpf_map_lookup_elem(&counts, key);
    if (!v) {
      count_drop(ONCPU_DROP_COUNTS_FULL);
      return;
    }
    bpf_get_current_comm(v->comm, sizeof(v->comm));
  }
  __sync_fetch_and_add(&v->count, 1);
}

SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;

  if (tid == 0) /* the idle task */
    return 0;
  if (!zt_is_traced(tgid))
    return 0;

  struct oncpu_key key = {.tgid = tgid, .tid = per_thread ? tid : 0};
  /* No BPF_F_FAST_STACK_CMP and no BPF_F_REUSE_STACKID: ids are compared in full and never
   * reassigned, so an id userspace has resolved keeps meaning the same stack. */
  key.kstack_id = bpf_get_stackid(ctx, &stackmap, 0);
  check_stack(key.kstack_id, ONCPU_DROP_KSTACK_COLLISION, ONCPU_DROP_KSTACK_FAILED);

  /* A described process's user stack is walked with its CFI (unwind_user continues there). */
  struct zt_unwind_state *st = unwind_begin(ctx, tgid, tid);
  if (st) {
    st->kstack_id = key.kstack_id;
    bpf_tail_call(ctx, &unwind_progs, 0);
  }
  key.ustack_id = bpf_get_stackid(ctx, &stackmap, BPF_F_USER_STACK);
  check_stack(key.ustack_id, ONCPU_DROP_USTACK_COLLISION, ONCPU_DROP_USTACK_FAILED);
  count_sample(&key);
  return 0;
}

SEC("perf_event")
int unwind_user(struct bpf_perf_event_data *ctx)
{
  struct zt_unwind_state *st = unwind_continue(ctx);
  if (!st)
    return 0;
  struct oncpu_key key = {.tgid = st->tgid, .tid = per_thread ? st->tid : 0,
                          .kstack_id = st->kstack_id};
  key.ustack_id = unwind_store(st);
  check_stack(key.ustack_id, ONCPU_DROP_USTACK_COLLISION, ONCPU_DROP_USTACK_FAILED);
  count_sample(&key);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
