// SPDX-License-Identifier: GPL-2.0
/* GPU activity records from the CUPTI injector (libzerotrace_cupti.so), read from its USDT probes.
 * Records are copied into a bounded ring buffer; the launch probe keeps the CPU stack of the
 * launching thread per CUPTI correlation id so the daemon can put GPU time under the CPU stack. */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "cupti.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, ZT_CUPTI_RINGBUF_BYTES);
} cupti_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, ZT_CUPTI_STACK_ENTRIES);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, ZT_CUPTI_STACK_DEPTH * sizeof(__u64));
} cupti_stacks SEC(".maps");

/* LRU: the daemon deletes an entry when it has matched the kernel record, but records can be lost
 * (rate cap, CUPTI drops), and LRU keeps the map from filling with orphans. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, ZT_CUPTI_LAUNCH_ENTRIES);
  __type(key, struct cupti_launch_key);
  __type(value, struct cupti_launch_info);
} launch_stacks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CUPTI_DROP_MAX);
  __type(key, __u32);
  __type(value, __u64);
} cupti_drops SEC(".maps");

static __always_inline void count_drop(__u32 reason)
{
  __u64 *v = bpf_map_lookup_elem(&cupti_drops, &reason);
  if (v)
    *v += 1;
}

static __always_inline void fill_header(struct cupti_event_header *hdr, __u32 type, __u32 tgid)
{
  hdr->type = type;
  hdr->tgid = tgid;
  hdr->ts = bpf_ktime_get_ns();
}

/* Reserve, copy the user record, submit. One macro body per record type keeps each program small
 * and the verifier happy with constant sizes. */
#define ZT_COPY_RECORD(ev_type, type_id, user_ptr)                                  \
  ({                                                                                \
    __u32 tgid = bpf_get_current_pid_tgid() >> 32;                                  \
    if (!zt_is_traced(tgid))                                                        \
      return 0;                                                                     \
    struct ev_type *ev = bpf_ringbuf_reserve(&cupti_events, sizeof(*ev), 0);        \
    if (!ev) {                                                                      \
      count_drop(CUPTI_DROP_RINGBUF_FULL);                                          \
      return 0;                                                                     \
    }                                                                               \
    fill_header(&ev->hdr, type_id, tgid);                                           \
    if (bpf_probe_read_user(&ev->rec, sizeof(ev->rec), user_ptr)) {                 \
      count_drop(CUPTI_DROP_READ_FAILED);                                           \
      bpf_ringbuf_discard(ev, 0);                                                   \
      return 0;                                                                     \
    }                                                                               \
    bpf_ringbuf_submit(ev, 0);                                                      \
    return 0;                                                                       \
  })

SEC("usdt")
int BPF_USDT(cupti_kernel, void *rec)
{
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!zt_is_traced(tgid))
    return 0;
  struct cupti_kernel_event *ev = bpf_ringbuf_reserve(&cupti_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUPTI_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUPTI_EV_KERNEL, tgid);
  if (bpf_probe_read_user(&ev->rec, sizeof(ev->rec), rec)) {
    count_drop(CUPTI_DROP_READ_FAILED);
    bpf_ringbuf_discard(ev, 0);
    return 0;
  }
  ev->name[0] = 0;
  if (ev->rec.name)
    bpf_probe_read_user_str(ev->name, sizeof(ev->name), (const void *)ev->rec.name);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

SEC("usdt")
int BPF_USDT(cupti_memcpy, void *rec)
{
  ZT_COPY_RECORD(cupti_memcpy_event, CUPTI_EV_MEMCPY, rec);
}

SEC("usdt")
int BPF_USDT(cupti_memset, void *rec)
{
  ZT_COPY_RECORD(cupti_memset_event, CUPTI_EV_MEMSET, rec);
}

SEC("usdt")
int BPF_USDT(cupti_memory, void *rec)
{
  ZT_COPY_RECORD(cupti_memory_event, CUPTI_EV_MEMORY, rec);
}

SEC("usdt")
int BPF_USDT(cupti_sync, void *rec)
{
  ZT_COPY_RECORD(cupti_sync_event, CUPTI_EV_SYNC, rec);
}

/* Fired inside the CUPTI launch API-enter callback: the current user stack is the launch site. */
SEC("usdt")
int BPF_USDT(cupti_launch, __u32 correlation_id, __u32 cbid, __u32 domain)
{
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  if (!zt_is_traced(tgid))
    return 0;
  struct cupti_launch_key key = {.tgid = tgid, .correlation_id = correlation_id};
  struct cupti_launch_info info = {
      .ts = bpf_ktime_get_ns(),
      .tid = (__u32)id,
      .cbid = cbid,
      .domain = domain,
  };
  info.ustack_id = bpf_get_stackid(ctx, &cupti_stacks, BPF_F_USER_STACK);
  if (info.ustack_id < 0)
    count_drop(CUPTI_DROP_STACK);
  bpf_map_update_elem(&launch_stacks, &key, &info, BPF_ANY);
  return 0;
}

SEC("usdt")
int BPF_USDT(cupti_dropped, __u64 cupti_dropped_total, __u64 rate_skipped_total)
{
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!zt_is_traced(tgid))
    return 0;
  struct cupti_dropped_event *ev = bpf_ringbuf_reserve(&cupti_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUPTI_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUPTI_EV_DROPPED, tgid);
  ev->cupti_dropped_total = cupti_dropped_total;
  ev->rate_skipped_total = rate_skipped_total;
  bpf_ringbuf_submit(ev, 0);
  return 0;
}
