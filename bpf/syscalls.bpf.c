// SPDX-License-Identifier: GPL-2.0
/* Per-process syscall counts, errors and log2 latency histograms, aggregated in the kernel. */
#include "common.bpf.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "syscalls.h"

struct syscall_start {
  __u64 ts;
  __u32 tid; /* owner of the slot; 0 = free (tid 0 is the idle task, never in a syscall) */
  __u32 nr;
};

/* Calls in progress, one slot per tid modulo the size: an array lookup the verifier inlines, with
 * no lock and nothing to allocate or free, where a hash map insert and delete on every syscall
 * of the host were most of this probe's cost. Two threads whose tids share a slot and are in a
 * syscall at once cost one latency sample (SYSCALL_DROP_START_FULL); the call is still counted,
 * with its number read at exit. Nothing leaks: a slot is overwritten by the next owner. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, ZT_SYSCALL_START_SLOTS);
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
  __u32 slot = tid & (ZT_SYSCALL_START_SLOTS - 1);
  struct syscall_start *s = bpf_map_lookup_elem(&start, &slot);
  if (!s)
    return 0;
  s->ts = bpf_ktime_get_ns();
  s->nr = (__u32)nr;
  s->tid = tid;
  return 0;
}

/* `nr` comes from the exit's own context, so a call is counted even when its start was lost. */
static __always_inline int handle_exit(long nr, long ret)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;

  if (nr < 0 || nr == nr_exit || nr == nr_exit_group || !zt_is_traced(tgid))
    return 0;
  __u64 delta = 0;
  bool timed = false;
  __u32 slot = tid & (ZT_SYSCALL_START_SLOTS - 1);
  struct syscall_start *s = bpf_map_lookup_elem(&start, &slot);
  if (s && s->tid == tid && s->nr == (__u32)nr) {
    delta = bpf_ktime_get_ns() - s->ts;
    s->tid = 0;
    timed = true;
  } else if (s && s->tid != 0 && s->tid != tid) {
    count_drop(SYSCALL_DROP_START_FULL);
  }
  struct syscall_key key = {.tgid = tgid, .nr = (__u32)nr};

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
  if (!timed)
    return 0;
  __sync_fetch_and_add(&st->total_ns, delta);
  __sync_fetch_and_add(&st->hist[zt_log2_slot(delta, ZT_SYSCALL_HIST_SLOTS)], 1);
  return 0;
}

/* At sys_exit the saved user registers still hold the syscall number (x86: orig_ax). */
static __always_inline long exit_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
  return BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
  return BPF_CORE_READ(regs, syscallno);
#else
#error "exit_nr: unsupported architecture"
#endif
}

SEC("raw_tp/sys_enter")
int BPF_PROG(raw_sys_enter, struct pt_regs *regs, long nr)
{
  return handle_enter(nr);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
  return handle_exit(exit_nr(regs), ret);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tp_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
  return handle_enter(ctx->id);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tp_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
  return handle_exit(ctx->id, ctx->ret);
}

char LICENSE[] SEC("license") = "GPL";
