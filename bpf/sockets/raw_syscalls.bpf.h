/* SPDX-License-Identifier: GPL-2.0 */
/* Part of sockets.bpf.c, #included there at this point (one object, one skeleton); it uses
 * the maps and helpers defined before it and is not compiled on its own.
 * The raw_syscalls path (tp_btf, else raw_tp): one sys_exit program decodes the call from the
 * saved user registers. */

/* raw_syscalls variants (tp_btf, else raw_tp): one exit program for every syscall and no
 * per-call state. At sys_exit the saved user registers still hold the syscall number and its
 * arguments (the syscall ABI preserves them; arm64 keeps the first one in orig_x0), so the exit
 * handler alone decodes the call: no map update on entry and no lookup/delete on exit, which was
 * most of the per-request cost on a busy server. tp_btf reads the registers directly; raw_tp
 * needs a probe-read per register. close() is handled on entry by its own syscall tracepoint,
 * while the fd still names the connection (after close returns, another thread may already have
 * reused the fd); that tracepoint fires on close only, not on every syscall as a raw_tp would. */
#define REG_ARG(direct, n, regs) \
  ((direct) ? (long)PT_REGS_PARM##n##_SYSCALL(regs) : (long)PT_REGS_PARM##n##_CORE_SYSCALL(regs))

static __always_inline long syscall_nr(struct pt_regs *regs, bool direct)
{
#if defined(__TARGET_ARCH_x86)
  return direct ? regs->orig_ax : BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
  return direct ? regs->syscallno : BPF_CORE_READ(regs, syscallno);
#else
#error "syscall_nr: unsupported architecture"
#endif
}

/* A 32-bit syscall (int 0x80 / ia32 process) has other numbers and argument registers than the
 * 64-bit table decode_call() knows: such calls are skipped rather than misread. */
static __always_inline bool compat_syscall(struct task_struct *task, bool direct)
{
#if defined(__TARGET_ARCH_x86)
  __u32 status = direct ? task->thread_info.status : BPF_CORE_READ(task, thread_info.status);
  return status & 0x0002; /* TS_COMPAT */
#else
  return false;
#endif
}

/* The traced call `nr` with the arguments in `regs`, or false for any other syscall. */
static __always_inline bool decode_call(struct pt_regs *regs, long nr, bool direct,
                                        struct call_args *a)
{
  if (nr == nr_read || nr == nr_write || nr == nr_sendto) {
    a->kind = CALL_BUF;
    a->direction = nr == nr_read ? SOCK_DIR_INGRESS : SOCK_DIR_EGRESS;
  } else if (nr == nr_recvfrom) {
    a->kind = (REG_ARG(direct, 4, regs) & MSG_PEEK) ? CALL_PEEK : CALL_BUF;
    a->direction = SOCK_DIR_INGRESS;
  } else if (nr == nr_readv || nr == nr_writev) {
    a->kind = CALL_IOV;
    a->direction = nr == nr_readv ? SOCK_DIR_INGRESS : SOCK_DIR_EGRESS;
    a->iovcnt = REG_ARG(direct, 3, regs);
  } else if (nr == nr_recvmsg || nr == nr_sendmsg) {
    a->kind = CALL_MSG;
    a->direction = nr == nr_recvmsg ? SOCK_DIR_INGRESS : SOCK_DIR_EGRESS;
  } else if (nr == nr_accept || nr == nr_accept4) {
    a->kind = CALL_ACCEPT;
  } else if (nr == nr_connect) {
    a->kind = CALL_CONNECT;
  } else if (nr == nr_sendfile) {
    a->kind = CALL_SIZE_ONLY;
    a->direction = SOCK_DIR_EGRESS;
  } else if (nr == nr_splice) {
    a->kind = CALL_SIZE_ONLY;
    a->direction = SOCK_DIR_EGRESS;
    a->fd = REG_ARG(direct, 3, regs); /* splice(fd_in, off_in, fd_out, ...) */
    return true;
  } else {
    return false;
  }
  a->fd = REG_ARG(direct, 1, regs);
  if (a->kind != CALL_ACCEPT && a->kind != CALL_CONNECT && a->kind != CALL_SIZE_ONLY)
    a->buf = REG_ARG(direct, 2, regs);
  return true;
}

static __always_inline int syscall_exit(struct pt_regs *regs, long ret, bool direct)
{
  /* Failed calls (EAGAIN reads of an epoll server are most of them) end here, before any read. */
  if (ret < 0 && ret != -EINPROGRESS)
    return 0;
  struct call_args a = {};
  if (!decode_call(regs, syscall_nr(regs, direct), direct, &a))
    return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  /* Without bpf_get_current_task_btf() (5.10) the task is read like raw_tp does. */
  bool task_direct = direct && task_btf;
  if (compat_syscall(task_direct ? bpf_get_current_task_btf()
                                 : (struct task_struct *)bpf_get_current_task(),
                     task_direct))
    return 0;
  return finish_call(id, a, ret);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(btf_exit, struct pt_regs *regs, long ret)
{
  return syscall_exit(regs, ret, true);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(raw_exit, struct pt_regs *regs, long ret)
{
  return syscall_exit(regs, ret, false);
}
