/* cuda probe: kernel/user ABI for the uprobes on the CUDA driver API (libcuda.so.1).
 *
 * Works on any running process without restarting it: launches with their CPU stack, device memory
 * allocated/freed (outstanding bytes -> leak sites), copies and time blocked in synchronisation.
 * Ring buffer `cuda_events`; entry arguments per (tid, call) in `cuda_entries`; user stacks in
 * `cuda_stacks`; drops in the per-CPU array `cuda_drops`. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ZT_CUDA_NAME_LEN 128
#define ZT_CUDA_RINGBUF_BYTES (4 << 20)
#define ZT_CUDA_STACK_ENTRIES 16384
#define ZT_CUDA_STACK_DEPTH 127
#define ZT_CUDA_ENTRY_ENTRIES 16384

/* Which driver function an event (or a saved entry) belongs to. */
enum cuda_call {
  CUDA_CALL_LAUNCH_KERNEL = 1,     /* cuLaunchKernel */
  CUDA_CALL_LAUNCH_KERNEL_EX = 2,  /* cuLaunchKernelEx */
  CUDA_CALL_MODULE_GET_FUNCTION = 3,
  CUDA_CALL_MEM_ALLOC = 4,         /* cuMemAlloc_v2 */
  CUDA_CALL_MEM_ALLOC_ASYNC = 5,   /* cuMemAllocAsync */
  CUDA_CALL_MEM_FREE = 6,          /* cuMemFree_v2 */
  CUDA_CALL_MEM_FREE_ASYNC = 7,    /* cuMemFreeAsync */
  CUDA_CALL_MEMCPY_HTOD = 8,       /* cuMemcpyHtoD_v2 */
  CUDA_CALL_MEMCPY_DTOH = 9,       /* cuMemcpyDtoH_v2 */
  CUDA_CALL_MEMCPY_DTOD = 10,      /* cuMemcpyDtoD_v2 */
  CUDA_CALL_MEMCPY_ASYNC = 11,     /* cuMemcpyAsync (direction inferred by the driver: unknown) */
  CUDA_CALL_MEMCPY_HTOD_ASYNC = 12,/* cuMemcpyHtoDAsync_v2 */
  CUDA_CALL_MEMCPY_DTOH_ASYNC = 13,/* cuMemcpyDtoHAsync_v2 */
  CUDA_CALL_CTX_SYNCHRONIZE = 14,
  CUDA_CALL_STREAM_SYNCHRONIZE = 15,
  CUDA_CALL_EVENT_SYNCHRONIZE = 16,
  CUDA_CALL_LIBRARY_GET_KERNEL = 17,  /* cuLibraryGetKernel: CUkernel -> name (CUDA 12+ runtime) */
  CUDA_CALL_KERNEL_GET_FUNCTION = 18, /* cuKernelGetFunction: CUkernel -> CUfunction */
  CUDA_CALL_MAX = 19,
};

enum cuda_event_type {
  CUDA_EV_LAUNCH = 1,
  CUDA_EV_FUNC_NAME = 2, /* cuModuleGetFunction / cuLibraryGetKernel returned: handle -> name */
  CUDA_EV_ALLOC = 3,
  CUDA_EV_FREE = 4,
  CUDA_EV_MEMCPY = 5,
  CUDA_EV_SYNC = 6,
  CUDA_EV_FUNC_ALIAS = 7, /* cuKernelGetFunction returned: this CUfunction runs that CUkernel */
};

enum cuda_memcpy_dir {
  CUDA_MEMCPY_UNKNOWN = 0, /* cuMemcpyAsync: unified addressing, the driver decides */
  CUDA_MEMCPY_HTOD = 1,
  CUDA_MEMCPY_DTOH = 2,
  CUDA_MEMCPY_DTOD = 3,
};

struct cuda_event_header {
  __u32 type; /* enum cuda_event_type */
  __u32 call; /* enum cuda_call */
  __u32 tgid;
  __u32 tid;
  __u64 ts;   /* bpf_ktime_get_ns at the call's entry */
};

struct cuda_launch_event {
  struct cuda_event_header hdr;
  __u64 function; /* CUfunction handle; named by a CUDA_EV_FUNC_NAME event */
  __u64 stream;
  __u32 grid_x, grid_y, grid_z;
  __u32 block_x, block_y, block_z;
  __u32 shared_mem_bytes;
  __s32 ustack_id; /* `cuda_stacks`; negative when the stack could not be taken */
};

/* hdr.call tells the handle kind: CUDA_CALL_MODULE_GET_FUNCTION -> function is a CUfunction and
 * module a CUmodule; CUDA_CALL_LIBRARY_GET_KERNEL -> function is a CUkernel (which cuLaunchKernel
 * also accepts) and module a CUlibrary. */
struct cuda_func_name_event {
  struct cuda_event_header hdr;
  __u64 function;
  __u64 module;
  char name[ZT_CUDA_NAME_LEN]; /* mangled kernel name */
};

/* The CUDA 12+ runtime loads kernels with cuLibraryGetKernel and launches the CUfunction that
 * cuKernelGetFunction returns for the current context: name(function) = name(kernel). */
struct cuda_func_alias_event {
  struct cuda_event_header hdr;
  __u64 function;
  __u64 kernel;
};

struct cuda_alloc_event {
  struct cuda_event_header hdr;
  __u64 dptr;
  __u64 bytes;
  __u64 stream;    /* cuMemAllocAsync only */
  __s32 ustack_id; /* allocation site, for leak reports */
  __s32 result;    /* CUresult; the event is emitted only on success, kept for symmetry */
  __u64 caller;    /* return address at the call's entry (see cuda_entry.caller) */
};

struct cuda_free_event {
  struct cuda_event_header hdr;
  __u64 dptr;
  __u64 stream;
  __s32 result;
  __u32 pad;
};

struct cuda_memcpy_event {
  struct cuda_event_header hdr;
  __u64 bytes;
  __u64 duration_ns; /* time in the call: the whole copy for sync copies, enqueue time for async */
  __u64 stream;
  __u32 direction;   /* enum cuda_memcpy_dir */
  __s32 result;
};

struct cuda_sync_event {
  struct cuda_event_header hdr;
  __u64 duration_ns; /* CPU time blocked in the call */
  __u64 handle;      /* CUstream / CUevent; 0 for cuCtxSynchronize */
  __s32 result;
  __u32 pad;
};

/* Saved at entry, consumed at return: key (tid, call) so a driver call made from inside another
 * traced call cannot overwrite the outer call's arguments. */
struct cuda_entry_key {
  __u32 tid;
  __u32 call;
};

struct cuda_entry {
  __u64 ts;
  __u64 arg0, arg1, arg2, arg3;
  __s32 ustack_id;
  __u32 pad;
  /* The return address at entry. A uprobe on a function's first instruction fires before its
   * frame exists: kernels without the fix of 6.9 (backported to 6.1, not to 5.10) walk the frame
   * pointers from the caller's frame and so drop the caller itself from the user stack.
   * Userspace puts it back where it is missing. */
  __u64 caller;
};

/* Indexes of the `cuda_drops` per-CPU array. */
enum cuda_drop_reason {
  CUDA_DROP_RINGBUF_FULL = 0,
  CUDA_DROP_ENTRY_FULL = 1, /* `cuda_entries` update failed: a return could not be matched */
  CUDA_DROP_STACK = 2,      /* bpf_get_stackid failed */
  CUDA_DROP_MAX = 3,
};
