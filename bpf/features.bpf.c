// SPDX-License-Identifier: GPL-2.0
/* Tiny programs the Features class loads one at a time to learn which attach types this kernel
 * really supports (a program type can exist while attaching it still fails, e.g. fentry without
 * BPF trampolines). Every program here is autoload-off except the one being probed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("fentry/do_nanosleep")
int BPF_PROG(probe_fentry)
{
  return 0;
}

SEC("kprobe/do_nanosleep")
int probe_kprobe(void *ctx)
{
  return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(probe_tp_btf)
{
  return 0;
}

/* bpf_get_current_task_btf() (Linux 5.11+): direct task reads in tp_btf programs. */
SEC("tp_btf/sched_switch")
int BPF_PROG(probe_task_btf)
{
  return bpf_get_current_task_btf()->pid == 0;
}

/* What the sockets probe's default path needs: the sock I/O tracepoints (Linux 6.3+) and, from
 * them, the task's user registers and the socket cookie. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(probe_sock_tp, struct sock *sk, int ret, int flags)
{
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
  return regs->ip == 0 && bpf_get_socket_cookie(sk) == 0;
}

SEC("raw_tp/sched_switch")
int probe_raw_tp(void *ctx)
{
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx)
{
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
