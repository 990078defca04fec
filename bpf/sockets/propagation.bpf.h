/* sockets probe, part: the kernel side of traceparent propagation (bpf/propagation.h) that needs
 * the connection: a thread's server trace context, set when a server read begins an HTTP/1
 * request and cleared by the answer; and the report of what sk_msg inserted into a client write.
 * Everything here is behind `propagate` (rodata): with propagation off the verifier drops it. */
#pragma once

#include "propagation/shared_maps.bpf.h"
#include "propagation/head_scan.bpf.h"

/* A lowercase hex digit's value, 0x10 for any other byte (W3C trace context is lowercase). A
 * table in .rodata: no branch per digit (three outcomes per digit, 32 digits, made the verifier
 * explore too many paths). */
static const __u8 prop_hex_value[256] = {
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 10, 11, 12, 13, 14, 15, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
};

/* The trace id of a traceparent value at d[at..] ("00-<32 hex>-..." after optional spaces) into
 * out; 0 when it parses. */
static __always_inline int prop_parse_trace_id(const __u8 *d, __u32 at, __u32 n, __u8 out[16])
{
  const __u32 mask = 2 * ZT_SOCK_MAX_CAPTURE - 1;
  if (d[at & mask] == ' ')
    at++;
  if (at + 36 > n || d[at & mask] != '0' || d[(at + 1) & mask] != '0' ||
      d[(at + 2) & mask] != '-')
    return -1;
  at += 3;
  __u8 bad = 0, any = 0;
#pragma unroll
  for (int k = 0; k < 16; k++) {
    __u8 hi = prop_hex_value[d[(at + 2 * k) & mask]];
    __u8 lo = prop_hex_value[d[(at + 2 * k + 1) & mask]];
    bad |= hi | lo;
    out[k] = (hi & 0xf) << 4 | (lo & 0xf);
    any |= out[k];
  }
  return (bad & 0x10) || !any ? -1 : 0; /* all zeros is invalid */
}

/* Per CPU: the thread context being built (the programs' stacks are near their limit), and
 * where a traceparent value starts, stored and read back so the verifier takes it for any offset
 * (one parse to verify, not one per offset the scan could stop at). */
struct prop_scratch {
  struct prop_thread t;
  __u32 value_at;
  __u32 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct prop_scratch);
} prop_scratches SEC(".maps");

/* Looks through a server request head (the event's captured bytes) for a traceparent. Returns
 * 0: none, the head is whole; 1: one, its trace id in trace_id; -1: the head does not end within
 * the capture or the scan window, or its traceparent does not parse (the trace is not ours to
 * name). A function of its own (a BPF-to-BPF call): its frame is not added to the stack of
 * the probe's deepest call chain (HTTP/2 frame walk), which is near the 512-byte limit. Global
 * where the kernel verifies a global function once with pointer arguments (the bpf_loop build,
 * 5.17+; verified per call site it added 380k instructions to the largest program on 6.1);
 * static on older kernels, which take only scalars and the context in global functions. */
#ifdef ZT_NO_BPF_LOOP
static
#endif
__noinline int prop_scan_server_head(const struct sock_data_event *e, struct prop_scratch *sc)
{
  if (!e || !sc)
    return -1;
  const __u8 *d = e->data;
  __u32 n = e->h.captured;
  struct prop_head_scan scan;
  prop_head_scan_init(&scan);
  int found = PROP_SCAN_MORE;
  __u32 value_at = 0;
  for (__u32 i = 0; i < ZT_PROP_SCAN_BYTES; i++) {
    if (i >= n)
      break;
    found = prop_head_step(&scan, d[i], i);
    if (found != PROP_SCAN_MORE) {
      value_at = i + 1;
      break;
    }
  }
  if (found == PROP_SCAN_HEAD_END)
    return 0;
  if (found != PROP_SCAN_TRACEPARENT)
    return -1;
  sc->value_at = value_at;
  /* Volatile: the compiler must not forward the stored value. */
  return prop_parse_trace_id(d, *(volatile __u32 *)&sc->value_at, n, sc->t.trace_id) == 0 ? 1
                                                                                          : -1;
}

/* 1 when the captured bytes begin like an HTTP/1 request line (method, space). */
static __always_inline int prop_request_line(const struct sock_data_event *e)
{
  if (e->h.captured_from != 0 || e->h.captured < 16)
    return 0;
  const __u8 *p = e->data;
#pragma unroll
  for (int i = 0; i < 8; i++) {
    if (p[i] == ' ')
      return i >= 3;
    if (p[i] < 'A' || p[i] > 'Z')
      return 0;
  }
  return 0;
}

/* Called with each stream event once its bytes are captured, before it is sent. */
static __always_inline void prop_note_event(__u64 id, int fd, const struct conn_info *c,
                                            struct sock_data_event *e)
{
  if (!propagate)
    return;
  __u32 tid = (__u32)id, tgid = id >> 32;
  if (e->h.direction == SOCK_DIR_INGRESS) {
    if (c->role != SOCK_ROLE_SERVER || !prop_request_line(e))
      return;
    __u32 zero = 0;
    struct prop_scratch *sc = bpf_map_lookup_elem(&prop_scratches, &zero);
    if (!sc)
      return;
    struct prop_thread *n = &sc->t;
    __u8 flags = 0;
    struct prop_thread *old = bpf_map_lookup_elem(&prop_threads, &tid);
    if (old && old->tgid == tgid) {
      flags = old->flags & PROP_THREAD_CONCURRENT;
      if (old->busy)
        flags |= PROP_THREAD_CONCURRENT;
    }
    n->req_ts = e->h.ts;
    n->gen = c->gen;
    n->fd = fd;
    n->tgid = tgid;
    n->busy = 1;
    int found = prop_scan_server_head(e, sc);
    if (found < 0) {
      flags |= PROP_THREAD_FOREIGN;
    } else if (found == 0) {
      __u32 *r = (__u32 *)n->trace_id;
      r[0] = bpf_get_prandom_u32();
      r[1] = bpf_get_prandom_u32();
      r[2] = bpf_get_prandom_u32();
      r[3] = bpf_get_prandom_u32();
      __builtin_memcpy(e->h.trace_id, n->trace_id, 16);
      e->h.flags |= SOCK_EV_SERVER_TRACE;
    }
    n->flags = flags;
    bpf_map_update_elem(&prop_threads, &tid, n, BPF_ANY);
    return;
  }
  if (c->role == SOCK_ROLE_SERVER) {
    /* The answer (its first write) ends the thread's claim on the request. */
    struct prop_thread *t = bpf_map_lookup_elem(&prop_threads, &tid);
    if (t && t->busy && t->tgid == tgid && t->fd == fd && t->gen == c->gen)
      t->busy = 0;
    return;
  }
  struct prop_injected *inj = bpf_map_lookup_elem(&prop_injected, &tid);
  if (!inj)
    return;
  if (inj->lport == c->lport && inj->rport == c->rport) {
    e->h.ids.span_id = inj->span_id;
    e->h.ids.aux = inj->aux;
    e->h.flags |= inj->mode == PROP_MODE_THREAD ? SOCK_EV_INJECTED_THREAD : SOCK_EV_INJECTED_NEW;
  }
  bpf_map_delete_elem(&prop_injected, &tid);
}
