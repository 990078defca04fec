/* The maps the sockets probe and the propagation probe share (the propagation loader reuses the
 * sockets probe's fds). Declared once here so the two objects cannot disagree on them. */
#pragma once

#include "propagation.h"

/* Set by the loader when propagation is on: without it neither probe touches these maps (and the
 * verifier drops the code that would). */
const volatile bool propagate = false;

/* By thread id: the server request it serves (the sockets probe writes, sk_msg reads). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, ZT_PROP_MAX_THREADS);
  __type(key, __u32);
  __type(value, struct prop_thread);
} prop_threads SEC(".maps");

/* By thread id: what sk_msg inserted into the write in progress (the sockets probe consumes). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, ZT_PROP_MAX_THREADS);
  __type(key, __u32);
  __type(value, struct prop_injected);
} prop_injected SEC(".maps");
