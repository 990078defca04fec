/* SPDX-License-Identifier: GPL-2.0 */
/* Part of sockets.bpf.c, #included there at this point (one object, one skeleton); it uses
 * the maps and helpers defined before it and is not compiled on its own.
 * The sock tracepoint path (6.3+): sock_send_length/sock_recv_length and inet_sock_set_state. */

/* sock tracepoint path. The tracepoints fire inside sock_sendmsg()/sock_recvmsg(), under the
 * syscall that asked for the I/O: its saved user registers name the fd and the buffer, as at
 * sys_exit. I/O without such a syscall underneath (io_uring, sendmmsg, kernel users) is not
 * decoded and not captured. */
static __always_inline void emit_close(__u32 tgid, int fd, const struct conn_info *c)
{
  emit_header(((__u64)tgid << 32) | tgid, fd, c, SOCK_EVENT_CLOSE, false);
}

static __always_inline int sock_io(struct sock *sk, int ret, int flags, __u8 dir)
{
  if (ret <= 0 || (flags & MSG_PEEK)) /* peeked bytes are read again later */
    return 0;
  __u16 family = sk->__sk_common.skc_family;
  if ((family != AF_INET && family != AF_INET6) || sk->sk_type != SOCK_STREAM ||
      sk->sk_protocol != IPPROTO_TCP)
    return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  struct task_struct *task = bpf_get_current_task_btf();
  struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
  struct call_args a = {};
  if (compat_syscall(task, true) || !decode_call(regs, syscall_nr(regs, true), true, &a) ||
      a.direction != dir ||
      a.kind == CALL_ACCEPT || a.kind == CALL_CONNECT || a.kind == CALL_PEEK)
    return 0;
  struct sk_conn *s = bpf_sk_storage_get(&sk_conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
  if (!s) {
    count_drop(SOCK_DROP_CONNS_FULL);
    return 0;
  }
  /* The generation comes from the handshake (sock_state), where one CPU sets it; only a
   * connection established before zerotrace started gets it here, at its first bytes (two
   * threads could both do that at once: the one race left, and only for such connections). */
  if (!s->info.gen)
    s->info.gen = bpf_ktime_get_ns();
  if (!(s->info.flags & CONN_ANNOUNCED)) {
    /* First bytes: the connection starts being tracked, under the process and fd doing I/O.
     * Another fd on the same socket (dup, fd passing) reports under its own (tgid, fd). Two
     * threads may both announce it: with one generation, the collector opens it once. */
    if (!describe_sock(sk, &s->info))
      return 0;
    note_seq0(&s->info); /* set at the handshake, unless it went by before zerotrace started */
    s->info.is_socket = 1;
    s->tgid = tgid;
    s->fd = a.fd;
    s->info.flags |= CONN_ANNOUNCED;
    announce_open(id, a.fd, &s->info);
  }
  return emit_call_data(id, a, ret, &s->info);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send, struct sock *sk, int ret, int flags)
{
  return sock_io(sk, ret, 0, SOCK_DIR_EGRESS);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv, struct sock *sk, int ret, int flags)
{
  return sock_io(sk, ret, flags, SOCK_DIR_INGRESS);
}

/* The handshake's end says who opened the connection (SYN_SENT: this side connected, SYN_RECV:
 * it was accepted); TCP_CLOSE is its end, also when the kernel closes the fds of an exiting
 * process (no close() call to see). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sock_state, struct sock *sk, int oldstate, int newstate)
{
  if (sk->sk_protocol != IPPROTO_TCP)
    return 0;
  if (newstate == TCP_ESTABLISHED) {
    __u8 role = oldstate == TCP_SYN_SENT   ? SOCK_ROLE_CLIENT
                : oldstate == TCP_SYN_RECV ? SOCK_ROLE_SERVER
                                           : SOCK_ROLE_UNKNOWN;
    if (role == SOCK_ROLE_UNKNOWN)
      return 0;
    struct sk_conn *s = bpf_sk_storage_get(&sk_conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!s)
      return 0;
    /* A new connection (also on a socket connected again after an earlier one ended): its
     * generation is set here, once, not by whichever thread does its first I/O. */
    s->info.gen = bpf_ktime_get_ns();
    s->info.flags = CONN_SEQ0;
    s->info.seq0 = BPF_CORE_READ((struct tcp_sock *)sk, write_seq);
    s->info.off[0] = 0;
    s->info.off[1] = 0;
    __builtin_memset(s->info.h2, 0, sizeof(s->info.h2));
    s->info.role = role;
    return 0;
  }
  if (newstate != TCP_CLOSE)
    return 0;
  struct sk_conn *s = bpf_sk_storage_get(&sk_conns, sk, 0, 0);
  if (!s || !s->info.gen)
    return 0;
  /* The connection keeps its generation: the syscall whose I/O ended the socket (a write the
   * loopback peer answered with a reset, processed inside that write) reports its bytes after
   * this, and userspace gives them to the closed connection (ConnTracker::kCloseLingerNs). A
   * later connect() on this socket starts a new generation at the handshake. */
  if (s->info.flags & CONN_CLOSED)
    return 0;
  s->info.flags |= CONN_CLOSED;
  emit_close(s->tgid, s->fd, &s->info);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
