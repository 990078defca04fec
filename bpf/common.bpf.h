/* Kernel-only helpers shared by every probe: process selection and log2 bucketing. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "filter.h"

/* Set by the loader before load: when false every process is traced and no map is consulted. */
const volatile bool filter_enabled = false;
const volatile bool filter_by_comm = false;

/* The ProcessFilter in userspace creates these once and every probe reuses the same fds, so one
 * selection applies to all probes. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ZT_MAX_TRACED_TGIDS);
  __type(key, __u32);
  __type(value, __u8);
} traced_tgids SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ZT_MAX_TRACED_COMMS);
  __type(key, struct zt_comm);
  __type(value, __u8);
} traced_comms SEC(".maps");

/* One lookup for untraced processes when only pids are selected; a second (comm) lookup only when
 * a comm selection exists. A comm match is remembered as a tgid so it is paid once per process. */
static __always_inline bool zt_is_traced(__u32 tgid)
{
  if (!filter_enabled)
    return true;
  if (bpf_map_lookup_elem(&traced_tgids, &tgid))
    return true;
  if (!filter_by_comm)
    return false;
  struct zt_comm comm = {};
  bpf_get_current_comm(comm.name, sizeof(comm.name));
  if (!bpf_map_lookup_elem(&traced_comms, &comm))
    return false;
  __u8 one = 1;
  bpf_map_update_elem(&traced_tgids, &tgid, &one, BPF_NOEXIST);
  return true;
}

static __always_inline __u32 zt_log2(__u64 v)
{
  __u32 r = 0, shift;
  shift = (v > 0xFFFFFFFF) << 5; v >>= shift; r |= shift;
  shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
  shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
  shift = (v > 0xF) << 2; v >>= shift; r |= shift;
  shift = (v > 0x3) << 1; v >>= shift; r |= shift;
  r |= (v >> 1);
  return r;
}

/* Log2 bucket of v, saturated at slots - 1 (slots a power of two). The mask after barrier_var()
 * bounds the very register used to index: clang otherwise may clamp a copy and index with the
 * original, which verifiers before 6.2 cannot relate ("R7 unbounded memory access" on 5.10/6.1). */
static __always_inline __u32 zt_log2_slot(__u64 v, __u32 slots)
{
  __u32 s = zt_log2(v);
  if (s >= slots)
    s = slots - 1;
  barrier_var(s);
  return s & (slots - 1);
}
