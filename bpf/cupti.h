/* cupti probe: the ONLY kernel/user ABI for the CUPTI injector (libzerotrace_cupti.so).
 *
 * Two halves share these layouts:
 *  - USDT argument structs: the injector fills one of the *_record structs on its own stack and
 *    fires a USDT probe (provider "zerotrace") with a single pointer argument to it; the BPF side
 *    copies it with bpf_probe_read_user. One pointer keeps every probe far below the 12-argument
 *    USDT limit and lets fields be added at the end without changing probe signatures.
 *  - Ring buffer events (cupti_event): what cupti.bpf.c hands to the daemon.
 *
 * Probes (provider "zerotrace", all with semaphores zerotrace_<name>_semaphore):
 *   kernel  (struct cupti_kernel_record *)
 *   memcpy  (struct cupti_memcpy_record *)
 *   memset  (struct cupti_memset_record *)
 *   memory  (struct cupti_memory_record *)
 *   sync    (struct cupti_sync_record *)
 *   launch  (__u32 correlation_id, __u32 cbid, __u32 domain)   fired on the launching thread
 *   dropped (__u64 cupti_dropped_total, __u64 rate_skipped_total) cumulative per process
 *
 * All timestamps are CLOCK_MONOTONIC ns (the injector registers a CUPTI timestamp callback), i.e.
 * the same clock as bpf_ktime_get_ns. Plain C: included by BPF code, the injector and the daemon.
 * C++ code must include it as "bpf/cupti.h" (repository root on the include path): CUPTI ships its
 * own <cupti.h>. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ZT_CUPTI_ABI_VERSION 1
#define ZT_CUPTI_NAME_LEN 256 /* kernel name bytes copied into a ring buffer event */

/* zerotrace:kernel. Dimensions are what CUPTI reports for the executed kernel. */
struct cupti_kernel_record {
  __u64 start;          /* ns, CLOCK_MONOTONIC */
  __u64 end;
  __u64 queued;         /* 0 when CUPTI did not collect it */
  __u64 submitted;
  __u64 grid_id;
  __u64 name;           /* user pointer to a NUL-terminated (mangled) name; 0 when unknown */
  __u32 device_id;
  __u32 context_id;
  __u32 stream_id;
  __u32 correlation_id; /* matches the launch API call; key of zerotrace:launch */
  __s32 grid_x, grid_y, grid_z;
  __s32 block_x, block_y, block_z;
  __s32 static_shared_mem;
  __s32 dynamic_shared_mem;
  __u32 registers_per_thread;
  __u32 graph_id;
  __u8 launch_type;
  __u8 is_device_launched;
  __u8 pad[6];
};

/* CUpti_ActivityMemcpyKind values, repeated so BPF and the daemon need no CUPTI headers. */
enum cupti_memcpy_kind {
  CUPTI_ZT_MEMCPY_UNKNOWN = 0,
  CUPTI_ZT_MEMCPY_HTOD = 1,
  CUPTI_ZT_MEMCPY_DTOH = 2,
  CUPTI_ZT_MEMCPY_HTOA = 3,
  CUPTI_ZT_MEMCPY_ATOH = 4,
  CUPTI_ZT_MEMCPY_ATOA = 5,
  CUPTI_ZT_MEMCPY_ATOD = 6,
  CUPTI_ZT_MEMCPY_DTOA = 7,
  CUPTI_ZT_MEMCPY_DTOD = 8,
  CUPTI_ZT_MEMCPY_HTOH = 9,
  CUPTI_ZT_MEMCPY_PTOP = 10,
};

/* zerotrace:memcpy */
struct cupti_memcpy_record {
  __u64 start;
  __u64 end;
  __u64 bytes;
  __u32 device_id;
  __u32 context_id;
  __u32 stream_id;
  __u32 correlation_id;
  __u8 copy_kind; /* enum cupti_memcpy_kind */
  __u8 src_kind;  /* CUpti_ActivityMemoryKind */
  __u8 dst_kind;
  __u8 flags;     /* CUpti_ActivityFlag: bit 0 = async */
  __u32 pad;
};

/* zerotrace:memset */
struct cupti_memset_record {
  __u64 start;
  __u64 end;
  __u64 bytes;
  __u32 device_id;
  __u32 context_id;
  __u32 stream_id;
  __u32 correlation_id;
  __u32 value;
  __u16 flags;
  __u16 memory_kind;
};

enum cupti_memory_op {
  CUPTI_ZT_MEMORY_OP_UNKNOWN = 0,
  CUPTI_ZT_MEMORY_OP_ALLOC = 1,   /* CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION */
  CUPTI_ZT_MEMORY_OP_RELEASE = 2, /* CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE */
};

/* zerotrace:memory (CUPTI_ACTIVITY_KIND_MEMORY2) */
struct cupti_memory_record {
  __u64 timestamp;
  __u64 address;
  __u64 bytes;
  __u64 pc;
  __u32 device_id;
  __u32 context_id;
  __u32 stream_id;
  __u32 correlation_id;
  __u32 op;          /* enum cupti_memory_op */
  __u32 memory_kind; /* CUpti_ActivityMemoryKind */
  __u32 is_async;
  __u32 pad;
};

/* zerotrace:sync; type is CUpti_ActivitySynchronizationType (1 event, 2 stream-wait-event,
 * 3 stream, 4 context). */
struct cupti_sync_record {
  __u64 start;
  __u64 end;
  __u32 type;
  __u32 context_id;
  __u32 stream_id;
  __u32 correlation_id;
  __u32 cuda_event_id;
  __u32 return_value;
};

/* Ring buffer `cupti_events`: every event starts with this header. */
enum cupti_event_type {
  CUPTI_EV_KERNEL = 1,
  CUPTI_EV_MEMCPY = 2,
  CUPTI_EV_MEMSET = 3,
  CUPTI_EV_MEMORY = 4,
  CUPTI_EV_SYNC = 5,
  CUPTI_EV_DROPPED = 6,
};

struct cupti_event_header {
  __u32 type; /* enum cupti_event_type */
  __u32 tgid;
  __u64 ts;   /* bpf_ktime_get_ns when the record was published (flush time, not GPU time) */
};

struct cupti_kernel_event {
  struct cupti_event_header hdr;
  struct cupti_kernel_record rec;
  char name[ZT_CUPTI_NAME_LEN]; /* copied from rec.name; "" when unreadable */
};

struct cupti_memcpy_event {
  struct cupti_event_header hdr;
  struct cupti_memcpy_record rec;
};

struct cupti_memset_event {
  struct cupti_event_header hdr;
  struct cupti_memset_record rec;
};

struct cupti_memory_event {
  struct cupti_event_header hdr;
  struct cupti_memory_record rec;
};

struct cupti_sync_event {
  struct cupti_event_header hdr;
  struct cupti_sync_record rec;
};

struct cupti_dropped_event {
  struct cupti_event_header hdr;
  __u64 cupti_dropped_total; /* cuptiActivityGetNumDroppedRecords, summed, cumulative */
  __u64 rate_skipped_total;  /* skipped by ZEROTRACE_CUPTI_MAX_RECORDS_PER_SEC, cumulative */
};

/* Map `launch_stacks` (LRU hash): correlation id -> CPU stack of the launching thread. The daemon
 * looks a kernel record's (tgid, correlation_id) up here; the user stack id indexes
 * `cupti_stacks`. */
struct cupti_launch_key {
  __u32 tgid;
  __u32 correlation_id;
};

struct cupti_launch_info {
  __u64 ts;
  __s32 ustack_id; /* negative: bpf_get_stackid error */
  __u32 tid;
  __u32 cbid;
  __u32 domain;    /* CUpti_CallbackDomain: 1 driver, 2 runtime */
};

#define ZT_CUPTI_RINGBUF_BYTES (8 << 20)
#define ZT_CUPTI_LAUNCH_ENTRIES 65536
#define ZT_CUPTI_STACK_ENTRIES 16384
#define ZT_CUPTI_STACK_DEPTH 127

/* Indexes of the `cupti_drops` per-CPU array. */
enum cupti_drop_reason {
  CUPTI_DROP_RINGBUF_FULL = 0, /* ring buffer full: a record was lost */
  CUPTI_DROP_READ_FAILED = 1,  /* bpf_probe_read_user of a record failed */
  CUPTI_DROP_STACK = 2,        /* bpf_get_stackid failed for a launch */
  CUPTI_DROP_MAX = 3,
};
