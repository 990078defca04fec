// SPDX-License-Identifier: GPL-2.0
/* traceparent propagation (off by default; see bpf/propagation.h and docs/tracing.md).
 * - sock_ops (on a cgroup): each TCP connection established by a process of that cgroup goes
 *   into a sockhash, so that its writes pass through the sk_msg program below.
 * - sk_msg: on a write of a traced process that begins an HTTP/1 request without a traceparent,
 *   inserts one after the request line (bpf_msg_push_data) and tells the sockets probe's event of
 *   the same write what it inserted (prop_injected).
 * No kprobes: sock_ops and sk_msg exist since 4.13 / 4.17, push_data since 4.20. TLS is never
 * touched: its writes are ciphertext and do not begin with a request line. */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>
#include "propagation/shared_maps.bpf.h"
#include "propagation/head_scan.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define SK_PASS 1

const volatile __u32 self_tgid = 0; /* the collector itself */

struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, ZT_PROP_MAX_SOCKETS);
  __type(key, struct prop_sock_key);
  __type(value, __u64);
} prop_socks SEC(".maps");

/* By tgid: userspace has found that this process's threads name the request they serve (not a
 * Go program, requests do not move between threads). Until then every insertion starts a new
 * trace: a wrong parent is worse than none. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ZT_PROP_MAX_PROCESSES);
  __type(key, __u32);
  __type(value, __u8);
} prop_links_ok SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PROP_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} prop_stats SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
  __u64 *v = bpf_map_lookup_elem(&prop_stats, &which);
  if (v)
    *v += 1;
}

SEC("sockops")
int zt_prop_sockops(struct bpf_sock_ops *ops)
{
  if (ops->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
    return 1;
  __u32 family = ops->family;
  if (family != AF_INET && family != AF_INET6)
    return 1;
  struct prop_sock_key k = {};
  k.family = family;
  k.lport = ops->local_port;
  k.rport = ops->remote_port;
  if (family == AF_INET) {
    k.laddr[0] = ops->local_ip4;
    k.raddr[0] = ops->remote_ip4;
  } else {
    k.laddr[0] = ops->local_ip6[0];
    k.laddr[1] = ops->local_ip6[1];
    k.laddr[2] = ops->local_ip6[2];
    k.laddr[3] = ops->local_ip6[3];
    k.raddr[0] = ops->remote_ip6[0];
    k.raddr[1] = ops->remote_ip6[1];
    k.raddr[2] = ops->remote_ip6[2];
    k.raddr[3] = ops->remote_ip6[3];
  }
  if (bpf_sock_hash_update(ops, &prop_socks, &k, BPF_NOEXIST))
    stat_inc(PROP_STAT_SOCKETS_FULL);
  return 1;
}

/* 1 when the bytes at p begin an HTTP/1 request line's method and its space. */
static __always_inline int is_method(const __u8 *p)
{
  if (p[0] == 'G' && p[1] == 'E' && p[2] == 'T' && p[3] == ' ')
    return 1;
  if (p[0] == 'P' && p[1] == 'U' && p[2] == 'T' && p[3] == ' ')
    return 1;
  if (p[0] == 'P' && p[1] == 'O' && p[2] == 'S' && p[3] == 'T' && p[4] == ' ')
    return 1;
  if (p[0] == 'H' && p[1] == 'E' && p[2] == 'A' && p[3] == 'D' && p[4] == ' ')
    return 1;
  if (p[0] == 'P' && p[1] == 'A' && p[2] == 'T' && p[3] == 'C' && p[4] == 'H' && p[5] == ' ')
    return 1;
  if (p[0] == 'D' && p[1] == 'E' && p[2] == 'L' && p[3] == 'E' && p[4] == 'T' && p[5] == 'E' &&
      p[6] == ' ')
    return 1;
  return p[0] == 'O' && p[1] == 'P' && p[2] == 'T' && p[3] == 'I' && p[4] == 'O' && p[5] == 'N' &&
         p[6] == 'S' && p[7] == ' ';
}

/* Read-only data (the loader's .rodata map), not the stack: the program's stack is near the
 * 512-byte limit already. */
static const char header_prefix[16] = "traceparent: 00-";
static const char hex_digits[16] = "0123456789abcdef";

/* 16 lowercase hex digits of v (big-endian) at out, which has 16 bytes of room. */
static __always_inline void put_hex(__u8 *out, __u64 v)
{
#pragma unroll
  for (int k = 0; k < 16; k++)
    out[k] = hex_digits[(v >> (60 - 4 * k)) & 0xf];
}

SEC("sk_msg")
int zt_prop_msg(struct sk_msg_md *msg)
{
  if (!propagate)
    return SK_PASS;
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;
  if (tgid == self_tgid)
    return SK_PASS;
  /* A comm selection is turned into tgids by the sockets probe (this program type cannot read
   * the comm): a selected process is in traced_tgids by the time it writes on a connection. */
  if (filter_enabled && !bpf_map_lookup_elem(&traced_tgids, &tgid))
    return SK_PASS;
  __u32 size = msg->size;
  if (size < 16)
    return SK_PASS;
  __u32 window = size < ZT_PROP_SCAN_BYTES ? size : ZT_PROP_SCAN_BYTES;
  if (bpf_msg_pull_data(msg, 0, window, 0))
    return SK_PASS;
  __u8 *data = msg->data, *end = msg->data_end;
  if ((void *)(data + 8) > (void *)end || !is_method(data))
    return SK_PASS;
  struct prop_head_scan scan;
  prop_head_scan_init(&scan);
  int found = PROP_SCAN_MORE;
  for (__u32 i = 0; i < ZT_PROP_SCAN_BYTES; i++) {
    if ((void *)(data + i + 1) > (void *)end)
      break;
    found = prop_head_step(&scan, data[i], i);
    if (found != PROP_SCAN_MORE)
      break;
  }
  if (found == PROP_SCAN_TRACEPARENT) {
    stat_inc(PROP_STAT_HAD_TRACEPARENT);
    return SK_PASS;
  }
  if (found != PROP_SCAN_HEAD_END) {
    /* The head goes on past this write or the scan window: a traceparent could be further on. */
    stat_inc(PROP_STAT_HEAD_NOT_WHOLE);
    return SK_PASS;
  }
  __u32 line_end = scan.line_end;

  struct prop_injected inj = {};
  inj.span_id = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32();
  inj.lport = msg->local_port;
  /* Network byte order; shifted into the upper 16 bits on little-endian kernels (the ctx
   * rewrite does so), in the lower ones where it is not. */
  __u32 rport = msg->remote_port;
  inj.rport = rport > 0xffff ? bpf_ntohl(rport) : bpf_ntohs((__u16)rport);
  __u64 trace_hi, trace_lo;
  struct prop_thread *t = bpf_map_lookup_elem(&prop_threads, &tid);
  if (t && t->tgid == tgid && t->busy && !(t->flags & (PROP_THREAD_CONCURRENT | PROP_THREAD_FOREIGN)) &&
      bpf_map_lookup_elem(&prop_links_ok, &tgid)) {
    inj.mode = PROP_MODE_THREAD;
    inj.aux = t->req_ts;
    __builtin_memcpy(&trace_hi, t->trace_id, 8);
    __builtin_memcpy(&trace_lo, t->trace_id + 8, 8);
    trace_hi = bpf_be64_to_cpu(trace_hi);
    trace_lo = bpf_be64_to_cpu(trace_lo);
  } else {
    inj.mode = PROP_MODE_NEW;
    inj.aux = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32();
    trace_hi = inj.aux;
    trace_lo = inj.span_id;
  }

  if (bpf_msg_push_data(msg, line_end, ZT_PROP_HEADER_BYTES, 0)) {
    stat_inc(PROP_STAT_PUSH_FAILED);
    return SK_PASS;
  }
  /* The pushed bytes may sit in a new scatterlist element: make them one run, then write. */
  /* If the new bytes cannot be reached to be written, they go again: a request must never
   * leave with bytes nobody wrote (bpf_msg_push_data does not zero them). */
  if (bpf_msg_pull_data(msg, line_end, line_end + ZT_PROP_HEADER_BYTES, 0)) {
    bpf_msg_pop_data(msg, line_end, ZT_PROP_HEADER_BYTES, 0);
    stat_inc(PROP_STAT_PUSH_FAILED);
    return SK_PASS;
  }
  data = msg->data;
  end = msg->data_end;
  if ((void *)(data + ZT_PROP_HEADER_BYTES) > (void *)end) {
    bpf_msg_pop_data(msg, line_end, ZT_PROP_HEADER_BYTES, 0);
    stat_inc(PROP_STAT_PUSH_FAILED);
    return SK_PASS;
  }
  __builtin_memcpy(data, header_prefix, 16);
  put_hex(data + 16, trace_hi);
  put_hex(data + 32, trace_lo);
  data[48] = '-';
  put_hex(data + 49, inj.span_id);
  data[65] = '-';
  data[66] = '0';
  data[67] = '1';
  data[68] = '\r';
  data[69] = '\n';
  bpf_map_update_elem(&prop_injected, &tid, &inj, BPF_ANY);
  stat_inc(inj.mode == PROP_MODE_THREAD ? PROP_STAT_INJECTED_THREAD : PROP_STAT_INJECTED_NEW);
  return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
