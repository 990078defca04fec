/* SPDX-License-Identifier: GPL-2.0 */
/* Part of sockets.bpf.c, #included there at this point (one object, one skeleton); it uses
 * the maps and helpers defined before it and is not compiled on its own.
 * The per-syscall tracepoint path (the oldest fallback): sys_enter_* programs save the
 * arguments, one exit program finishes every call. */

/* Tracepoint variant: the enter handler stored the arguments per thread. */
static __always_inline int exit_call(long ret)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  struct call_args *ap = bpf_map_lookup_elem(&active, &tid);
  if (!ap)
    return 0;
  struct call_args a = *ap;
  bpf_map_delete_elem(&active, &tid);
  return finish_call(id, a, ret);
}

/* Every socket syscall's exit, in one program: the sys_exit_* events share one layout, so the
 * loader attaches this program to each of them (SocketsProbe::AttachSyscallExits) and the
 * verifier checks it once, not once per syscall (13 copies took ~10 s to load, more on a busy
 * host). */
SEC("tracepoint")
int exit_sock_call(struct trace_event_raw_sys_exit *ctx) { return exit_call(ctx->ret); }

#define ARG(n) (ctx->args[n])

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_ACCEPT, 0); }
SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_ACCEPT, 0); }
SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_CONNECT, 0); }

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_BUF, SOCK_DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_BUF, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
  return enter(ARG(0), ARG(1), 0, (ARG(3) & MSG_PEEK) ? CALL_PEEK : CALL_BUF, SOCK_DIR_INGRESS);
}
SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_BUF, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), ARG(2), CALL_IOV, SOCK_DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), ARG(2), CALL_IOV, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_MSG, SOCK_DIR_INGRESS); }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), ARG(1), 0, CALL_MSG, SOCK_DIR_EGRESS); }
/* sendfile(out_fd, in_fd, ...) and splice(..., fd_out, ...) move bytes we cannot copy: counted
 * by size so the parsers can skip a body of known length. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(0), 0, 0, CALL_SIZE_ONLY, SOCK_DIR_EGRESS); }
SEC("tracepoint/syscalls/sys_enter_splice")
int enter_splice(struct trace_event_raw_sys_enter *ctx) { return enter(ARG(2), 0, 0, CALL_SIZE_ONLY, SOCK_DIR_EGRESS); }
