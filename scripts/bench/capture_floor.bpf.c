// SPDX-License-Identifier: GPL-2.0
/* The least any payload-reading L7 capture can do per socket event, for
 * scripts/bench-capture-floor.sh: the same two sock tracepoints zerotrace uses, then (by mode)
 * nothing, finding the call's first user buffer (saved registers, iovec), adding a clock read
 * and a 64-byte copy of it, or sending that copy to a ring buffer shared by all CPUs or to one
 * ring per CPU. No process filter, no connection state, no protocol logic: what it costs is a
 * floor under zerotrace's own per-event cost, not a design. x86-64 syscall numbers only. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define FLOOR_EMPTY 0
#define FLOOR_DECODE 1
#define FLOOR_COPY 2
#define FLOOR_RING 3
#define FLOOR_CPU_RINGS 4
#define FLOOR_MAX_CPUS 64
#define AF_INET 2
#define AF_INET6 10

const volatile int mode = FLOOR_EMPTY;

struct floor_record {
  __u64 ts;
  __u32 tgid;
  __u32 size;
  __u8 data[64];
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 * 1024 * 1024);
} records SEC(".maps");

/* One ring per CPU (the loader fills it): no lock or producer position shared between CPUs. */
struct cpu_ring {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 * 1024 * 1024);
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, FLOOR_MAX_CPUS);
  __type(key, __u32);
  __array(values, struct cpu_ring);
} cpu_rings SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct floor_record);
} scratch SEC(".maps");

/* The user buffer of the syscall underneath: read/write/sendto/recvfrom name it directly,
 * readv/writev through an iovec, sendmsg/recvmsg through a msghdr. */
static __always_inline __u64 first_buffer(struct pt_regs *regs)
{
  long nr = regs->orig_ax;
  __u64 arg = regs->si;
  struct iovec v = {};
  if (nr == 0 || nr == 1 || nr == 44 || nr == 45)
    return arg;
  if (nr == 46 || nr == 47) {
    struct user_msghdr m = {};
    if (bpf_probe_read_user(&m, sizeof(m), (void *)arg))
      return 0;
    arg = (__u64)m.msg_iov;
  } else if (nr != 19 && nr != 20) {
    return 0;
  }
  if (bpf_probe_read_user(&v, sizeof(v), (void *)arg))
    return 0;
  return (__u64)v.iov_base;
}

static __always_inline int floor_io(struct sock *sk, int ret)
{
  if (mode == FLOOR_EMPTY || ret <= 0)
    return 0;
  __u16 family = sk->__sk_common.skc_family;
  if (family != AF_INET && family != AF_INET6)
    return 0;
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
  __u64 buf = first_buffer(regs);
  if (!buf || mode == FLOOR_DECODE)
    return 0;
  /* 1..64 bytes, in a form the verifier bounds */
  __u32 len = ret > 64 ? 64 : ((((__u32)ret - 1) & 63) + 1);
  struct floor_record *r;
  void *ring = &records;
  if (mode == FLOOR_CPU_RINGS) {
    __u32 cpu = bpf_get_smp_processor_id();
    ring = bpf_map_lookup_elem(&cpu_rings, &cpu);
    if (!ring)
      return 0;
  }
  if (mode >= FLOOR_RING) {
    r = bpf_ringbuf_reserve(ring, sizeof(*r), 0);
  } else {
    __u32 zero = 0;
    r = bpf_map_lookup_elem(&scratch, &zero);
  }
  if (!r)
    return 0;
  r->ts = bpf_ktime_get_ns();
  r->tgid = bpf_get_current_pid_tgid() >> 32;
  r->size = ret;
  bpf_probe_read_user(r->data, len, (void *)buf);
  if (mode >= FLOOR_RING)
    bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
  return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_send, struct sock *sk, int ret, int flags) { return floor_io(sk, ret); }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_recv, struct sock *sk, int ret, int flags) { return floor_io(sk, ret); }

char LICENSE[] SEC("license") = "GPL";
