// SPDX-License-Identifier: GPL-2.0
/* Per-process syscall counts, errors and log2 latency histograms, aggregated in the kernel. */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include "syscalls.h"

struct syscall_start {
  __u64 ts;
  __u32 nr;
};

/* Calls in progress, one per thread blocked in (or running) a syscall. A plain hash, not an LRU
 * one (whose list upkeep was the larger part of this probe's cost on every syscall of the host):
 * nothing leaks, because the only calls that never reach sys_exit, exit and exit_group, are not
 * recorded (a killed task still passes sys_exit on its way out). Sized for nodes with tens of
 * thousands of threads; when full, calls go untimed and are counted as SYSCALL_DROP_START_FULL. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, struct syscall_start);
} start SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ZT_SYSCALL_MAX_ENTRIES);
  __type(key, struct syscall_key);
  __type(value, struct syscall_stats);
} stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SYSCALL_DROP_MAX);
  __type(key, __u32);
  __type(value, __u64);
} drops SEC(".maps");

static struct syscall_stats zero_stats;

/* Set by the loader from <sys/syscall.h> (vmlinux.h has no __NR_* constants). */
const volatile long nr_exit = -1, nr_exit_group = -1;

static __always_inline void count_drop(__u32 reason)
{
  __u64 *v = bpf_map_lookup_elem(&drops, &reason);
  if (v)
    *v += 1;
}

/* Two attach variants share one handler: raw_tp skips the perf-buffer marshalling of classic
 * tracepoints (cheaper on every syscall of the host); the loader turns off whichever variant
 * the kernel does not support. */
static __always_inline int handle_enter(long nr)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;

  if (nr == nr_exit || nr == nr_exit_group || !zt_is_traced(tgid))
    return 0;
  struct syscall_start s = {.ts = bpf_ktime_get_ns(), .nr = (__u32)nr};
  if (bpf_map_update_elem(&start, &tid, &s, BPF_ANY))
    count_drop(SYSCALL_DROP_START_FULL);
  return 0;
}

static __always_inline int handle_exit(long ret)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;

  struct syscall_start *s = bpf_map_lookup_elem(&start, &tid);
  if (!s)
    return 0; /* entered before we attached, or not traced */
  __u64 delta = bpf_ktime_get_ns() - s->ts;
  struct syscall_key key = {.tgid = tgid, .nr = s->nr};
  bpf_map_delete_elem(&start, &tid);

  struct syscall_stats *st = bpf_map_lookup_elem(&stats, &key);
  if (!st) {
    bpf_map_update_elem(&stats, &key, &zero_stats, BPF_NOEXIST);
    st = bpf_map_lookup_elem(&stats, &key);
    if (!st) {
      count_drop(SYSCALL_DROP_STATS_FULL);
      return 0;
    }
    bpf_get_current_comm(st->comm, sizeof(st->comm));
  }
  __sync_fetch_and_add(&st->count, 1);
  if (ret < 0)
    __sync_fetch_and_add(&st->errors, 1);
  __sync_fetch_and_add(&st->total_ns, delta);
  __u32 slot = zt_log2(delta);
  if (slot >= ZT_SYSCALL_HIST_SLOTS)
    slot = ZT_SYSCALL_HIST_SLOTS - 1;
  __sync_fetch_and_add(&st->hist[slot], 1);
  return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long nr)
{
  return handle_enter(nr);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
  return handle_exit(ret);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tp_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
  return handle_enter(ctx->id);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tp_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
  return handle_exit(ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
