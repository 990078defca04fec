/* SPDX-License-Identifier: GPL-2.0 */
/* Part of sockets.bpf.c, #included there at this point (one object, one skeleton); it uses
 * the maps and helpers defined before it and is not compiled on its own.
 * OpenSSL plaintext: the SSL_read/SSL_write uprobes, the handshake/free links of an SSL object
 * to its socket, and the exec hook that has new processes' libssl found. */

/* OpenSSL: SSL_read(ssl, buf, num), SSL_write(ssl, buf, num) return the byte count;
 * SSL_read_ex/SSL_write_ex(ssl, buf, num, size_t *bytes) return 1 and write the count, and so
 * do ssl_read_internal/ssl_write_internal, which the loader probes instead where it finds them
 * (userspace/probes/ssl_internals.h). */
static __always_inline int tls_enter(struct pt_regs *ctx, __u8 dir, bool ex)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  struct tls_call t = {.ssl = PT_REGS_PARM1(ctx), .buf = PT_REGS_PARM2(ctx),
                       .bytes_ptr = ex ? PT_REGS_PARM4(ctx) : 0, .direction = dir};
  bpf_map_update_elem(&tls_active, &tid, &t, BPF_ANY);
  return 0;
}

/* Uses up the thread's last TLS read (see tls_last_reads) and, when `key` names an SSL object
 * with no connection yet and the read qualifies, ties the object to that socket. */
static __always_inline struct ssl_conn *link_from_last_read(__u32 tid, struct ssl_key *key,
                                                            bool linked, bool handshake)
{
  struct ssl_conn *seen = bpf_map_lookup_elem(&tls_last_reads, &tid);
  if (!seen)
    return NULL;
  struct ssl_conn *sc = NULL;
  /* A handshake that follows a socket's first read relinks even a linked object: the pointer of
   * a freed SSL object comes back for a new connection (SSL_free is probed, but a missed free
   * would otherwise send the new connection's plaintext to the old one for good). */
  bool relink = handshake && seen->first_read;
  if ((!linked || relink) && (!handshake || seen->first_read) &&
      bpf_ktime_get_ns() - seen->seen_ns < TLS_READ_LINK_NS) {
    sc = conn_scratch();
    if (sc) {
      *sc = *seen;
      /* The plaintext stream starts here, with its own offsets and HTTP/2 state. */
      sc->info.flags &= ~CONN_STREAM_FLAGS;
      sc->info.off[0] = sc->info.off[1] = 0;
      __builtin_memset(sc->info.h2, 0, sizeof(sc->info.h2));
      bpf_map_update_elem(&ssl_conns, key, sc, relink ? BPF_ANY : BPF_NOEXIST);
    }
  }
  bpf_map_delete_elem(&tls_last_reads, &tid);
  return sc ? bpf_map_lookup_elem(&ssl_conns, key) : NULL;
}

static __always_inline int tls_exit(struct pt_regs *ctx, bool ex)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  struct tls_call *tp = bpf_map_lookup_elem(&tls_active, &tid);
  if (!tp)
    return 0;
  struct tls_call t = *tp;
  bpf_map_delete_elem(&tls_active, &tid);
  struct ssl_key key = {.tgid = id >> 32, .ssl = t.ssl};
  struct ssl_conn *sc = bpf_map_lookup_elem(&ssl_conns, &key);
  if (t.direction == SOCK_DIR_INGRESS) {
    struct ssl_conn *linked = link_from_last_read(tid, &key, sc != NULL, false);
    if (!sc)
      sc = linked;
  }
  int ret = (int)PT_REGS_RC(ctx); /* C int: the upper half of the register is not the sign */
  __u64 bytes = 0;
  if (ex) {
    /* SSL_*_ex return 1; the internal functions they share return > 0 on success. */
    if (ret <= 0 || bpf_probe_read_user(&bytes, sizeof(bytes), (const void *)t.bytes_ptr))
      return 0;
  } else {
    if (ret <= 0)
      return 0;
    bytes = ret;
  }
  if (!sc) {
    count_drop(SOCK_DROP_TLS_UNLINKED); /* no socket known for this SSL object yet */
    return 0;
  }
  /* The plaintext is a stream of its own (offsets in sc->info): capture hints skip bodies of
   * declared length and HTTP/2 DATA payload in it as on a plaintext socket, so a large HTTPS
   * transfer is not copied to userspace. */
  struct call_args a = {.buf = t.buf, .fd = sc->fd, .kind = CALL_BUF, .direction = t.direction};
  return emit_stream_data(id, a, (long)bytes, &sc->info);
}

/* SSL_free(ssl): the object's link goes with it (its address is reused by a later SSL_new). */
SEC("uprobe")
int BPF_KPROBE(tls_free)
{
  __u64 id = bpf_get_current_pid_tgid();
  struct ssl_key key = {.tgid = id >> 32, .ssl = PT_REGS_PARM1(ctx)};
  bpf_map_delete_elem(&ssl_conns, &key);
  return 0;
}

/* SSL_do_handshake(ssl): no plaintext, only the link to the socket for an SSL object over
 * memory BIOs (a client's first SSL_write follows it). */
SEC("uprobe")
int BPF_KPROBE(tls_handshake_enter) { return tls_enter(ctx, SOCK_DIR_INGRESS, false); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_handshake_exit)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id;
  struct tls_call *tp = bpf_map_lookup_elem(&tls_active, &tid);
  if (!tp)
    return 0;
  struct ssl_key key = {.tgid = id >> 32, .ssl = tp->ssl};
  bpf_map_delete_elem(&tls_active, &tid);
  link_from_last_read(tid, &key, bpf_map_lookup_elem(&ssl_conns, &key) != NULL, true);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_read_enter) { return tls_enter(ctx, SOCK_DIR_INGRESS, false); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_read_exit) { return tls_exit(ctx, false); }
SEC("uprobe")
int BPF_KPROBE(tls_write_enter) { return tls_enter(ctx, SOCK_DIR_EGRESS, false); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_write_exit) { return tls_exit(ctx, false); }
SEC("uprobe")
int BPF_KPROBE(tls_read_ex_enter) { return tls_enter(ctx, SOCK_DIR_INGRESS, true); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_read_ex_exit) { return tls_exit(ctx, true); }
SEC("uprobe")
int BPF_KPROBE(tls_write_ex_enter) { return tls_enter(ctx, SOCK_DIR_EGRESS, true); }
SEC("uretprobe")
int BPF_KRETPROBE(tls_write_ex_exit) { return tls_exit(ctx, true); }

/* A new program image: userspace scans its mappings for a libssl no uprobe covers yet, so a
 * process started after zerotrace with its own OpenSSL (a container image, a bundled copy) is
 * traced from its first request rather than from the next periodic /proc scan. */
SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
  if (!tls_watch_exec)
    return 0;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  if (tgid == self_tgid || !zt_is_traced(tgid))
    return 0;
  struct sock_event_header h = {};
  h.ts = bpf_ktime_get_ns();
  h.tgid = tgid;
  h.tid = (__u32)id;
  h.fd = -1;
  h.type = SOCK_EVENT_EXEC;
  bpf_get_current_comm(h.comm, sizeof(h.comm));
  if (ring_output(&h, sizeof(h), BPF_RB_FORCE_WAKEUP))
    count_drop(SOCK_DROP_RINGBUF);
  return 0;
}
