// SPDX-License-Identifier: GPL-2.0
/* Uprobes on the CUDA driver API in libcuda.so.1: kernel launches with their CPU stack, device
 * allocations (with the allocation site's stack) and frees, copies, and time blocked in syncs.
 * Programs carry no attach target: the loader attaches each one by symbol name with
 * bpf_program__attach_uprobe_opts(func_name=...) to the libcuda.so.1 a process mapped, and may
 * attach the same program to the _ptsz variants (per-thread default stream) as well. */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "cuda.h"
#define ZT_STACK_DEPTH ZT_CUDA_STACK_DEPTH
#include "unwind/dwarf_walk.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, ZT_CUDA_RINGBUF_BYTES);
} cuda_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, ZT_CUDA_STACK_ENTRIES);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, ZT_CUDA_STACK_DEPTH * sizeof(__u64));
} cuda_stacks SEC(".maps");

/* LRU: a thread killed inside a driver call never reaches the uretprobe. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, ZT_CUDA_ENTRY_ENTRIES);
  __type(key, struct cuda_entry_key);
  __type(value, struct cuda_entry);
} cuda_entries SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, CUDA_DROP_MAX);
  __type(key, __u32);
  __type(value, __u64);
} cuda_drops SEC(".maps");

/* What a CFI walk of the launching (or allocating) stack finishes: the walker program emits the
 * launch event, or saves the entry, once the stack is stored. */
enum cuda_walk_kind { CUDA_WALK_LAUNCH = 1, CUDA_WALK_ENTRY = 2 };
struct cuda_walk {
  __u32 kind;
  struct cuda_entry_key key;
  struct cuda_entry entry;
  struct cuda_launch_event launch;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct cuda_walk);
} cuda_walks SEC(".maps");

/* Mirror of CUlaunchConfig's leading fields (cuda.h, stable since CUDA 12.0). */
struct zt_cu_launch_config {
  __u32 grid_x, grid_y, grid_z;
  __u32 block_x, block_y, block_z;
  __u32 shared_mem_bytes;
  __u32 pad;
  __u64 stream;
};

static __always_inline void count_drop(__u32 reason)
{
  __u64 *v = bpf_map_lookup_elem(&cuda_drops, &reason);
  if (v)
    *v += 1;
}

static __always_inline __s32 user_stack(void *ctx)
{
  __s32 id = bpf_get_stackid(ctx, &cuda_stacks, BPF_F_USER_STACK);
  if (id < 0)
    count_drop(CUDA_DROP_STACK);
  return id;
}

/* The caller's address at a function's entry (see cuda_entry.caller). */
static __always_inline __u64 entry_caller(struct pt_regs *regs)
{
  __u64 ra = 0;
#if defined(__TARGET_ARCH_x86)
  bpf_probe_read_user(&ra, sizeof(ra), (const void *)PT_REGS_SP(regs));
#elif defined(__TARGET_ARCH_arm64)
  ra = PT_REGS_RET(regs); /* the link register */
#endif
  return ra;
}

static __always_inline void fill_header(struct cuda_event_header *hdr, __u32 type, __u32 call,
                                        __u64 id, __u64 ts)
{
  hdr->type = type;
  hdr->call = call;
  hdr->tgid = id >> 32;
  hdr->tid = (__u32)id;
  hdr->ts = ts;
}

static __always_inline void store_entry(const struct cuda_entry_key *key,
                                        const struct cuda_entry *e)
{
  if (bpf_map_update_elem(&cuda_entries, key, e, BPF_ANY))
    count_drop(CUDA_DROP_ENTRY_FULL);
}

static __always_inline struct cuda_walk *walk_scratch(void)
{
  __u32 zero = 0;
  return bpf_map_lookup_elem(&cuda_walks, &zero);
}

/* Entry half of an entry/return pair: remember the arguments for the uretprobe. With `stack`,
 * the user stack is walked first (the walker program stores the entry). */
static __always_inline int save_entry(void *ctx, __u32 call, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
                                      bool stack)
{
  __u64 id = bpf_get_current_pid_tgid();
  if (!zt_is_traced(id >> 32))
    return 0;
  struct cuda_entry_key key = {.tid = (__u32)id, .call = call};
  struct cuda_entry e = {
      .ts = bpf_ktime_get_ns(), .arg0 = a0, .arg1 = a1, .arg2 = a2, .arg3 = a3, .ustack_id = -1};
  if (stack) {
    e.caller = entry_caller((struct pt_regs *)ctx);
    struct cuda_walk *w = walk_scratch();
    if (w && unwind_begin(ctx, id >> 32, (__u32)id)) {
      w->kind = CUDA_WALK_ENTRY;
      w->key = key;
      w->entry = e;
      bpf_tail_call(ctx, &unwind_progs, 0);
    }
    e.ustack_id = user_stack(ctx);
  }
  store_entry(&key, &e);
  return 0;
}

static __always_inline void emit_launch(const struct cuda_launch_event *src, __s32 ustack_id)
{
  struct cuda_launch_event *ev = bpf_ringbuf_reserve(&cuda_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUDA_DROP_RINGBUF_FULL);
    return;
  }
  __builtin_memcpy(ev, src, sizeof(*ev));
  ev->ustack_id = ustack_id;
  bpf_ringbuf_submit(ev, 0);
}

/* A launch described in the scratch: its stack is walked (the walker emits it), or taken by
 * frame pointers where the process is not described. */
static __always_inline int launch_with_stack(void *ctx, struct cuda_walk *w, __u64 id)
{
  if (unwind_begin(ctx, id >> 32, (__u32)id)) {
    w->kind = CUDA_WALK_LAUNCH;
    bpf_tail_call(ctx, &unwind_progs, 0);
  }
  emit_launch(&w->launch, user_stack(ctx));
  return 0;
}

/* The walker: continues until the stack is complete, then finishes what started the walk. */
SEC("uprobe")
int cuda_unwind(struct pt_regs *ctx)
{
  struct zt_unwind_state *st = unwind_continue(ctx);
  struct cuda_walk *w = walk_scratch();
  if (!st || !w)
    return 0;
  __s32 ustack_id = unwind_store(st);
  if (ustack_id < 0)
    count_drop(CUDA_DROP_STACK);
  if (w->kind == CUDA_WALK_LAUNCH) {
    emit_launch(&w->launch, ustack_id);
  } else if (w->kind == CUDA_WALK_ENTRY) {
    w->entry.ustack_id = ustack_id;
    store_entry(&w->key, &w->entry);
  }
  w->kind = 0;
  return 0;
}

/* Return half: fetch and forget the entry; false when the call was not traced. */
static __always_inline bool take_entry(__u32 call, struct cuda_entry *out, __u64 *id)
{
  *id = bpf_get_current_pid_tgid();
  struct cuda_entry_key key = {.tid = (__u32)*id, .call = call};
  struct cuda_entry *e = bpf_map_lookup_elem(&cuda_entries, &key);
  if (!e)
    return false;
  *out = *e;
  bpf_map_delete_elem(&cuda_entries, &key);
  return true;
}

/* ---- launches ---------------------------------------------------------------------------- */

/* cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedMemBytes, hStream, ...):
 * arguments 7.. are on the stack on x86-64 (above the return address) and 9.. on arm64. */
SEC("uprobe")
int BPF_KPROBE(cuLaunchKernel, __u64 f, __u32 gx, __u32 gy, __u32 gz, __u32 bx)
{
  __u64 id = bpf_get_current_pid_tgid();
  if (!zt_is_traced(id >> 32))
    return 0;
  /* libbpf 1.1's BPF_KPROBE names five arguments; the sixth comes from the register directly. */
  __u32 by = 0, bz = 0, shmem = 0;
  __u64 stream = 0;
#if defined(__TARGET_ARCH_x86)
  by = (__u32)BPF_CORE_READ(ctx, r9);
  __u64 sp = PT_REGS_SP(ctx);
  __u64 slot = 0;
  bpf_probe_read_user(&slot, sizeof(slot), (void *)(sp + 8));
  bz = (__u32)slot;
  bpf_probe_read_user(&slot, sizeof(slot), (void *)(sp + 16));
  shmem = (__u32)slot;
  bpf_probe_read_user(&stream, sizeof(stream), (void *)(sp + 24));
#elif defined(__TARGET_ARCH_arm64)
  struct user_pt_regs *regs = (struct user_pt_regs *)ctx;
  by = (__u32)BPF_CORE_READ(regs, regs[5]);
  bz = (__u32)BPF_CORE_READ(regs, regs[6]);
  shmem = (__u32)BPF_CORE_READ(regs, regs[7]);
  bpf_probe_read_user(&stream, sizeof(stream), (void *)PT_REGS_SP(ctx));
#endif
  struct cuda_walk *w = walk_scratch();
  if (!w)
    return 0;
  struct cuda_launch_event *ev = &w->launch;
  fill_header(&ev->hdr, CUDA_EV_LAUNCH, CUDA_CALL_LAUNCH_KERNEL, id, bpf_ktime_get_ns());
  ev->function = f;
  ev->stream = stream;
  ev->grid_x = gx;
  ev->grid_y = gy;
  ev->grid_z = gz;
  ev->block_x = bx;
  ev->block_y = by;
  ev->block_z = bz;
  ev->shared_mem_bytes = shmem;
  return launch_with_stack(ctx, w, id);
}

/* cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **params, void **extra) */
SEC("uprobe")
int BPF_KPROBE(cuLaunchKernelEx, const void *config, __u64 f)
{
  __u64 id = bpf_get_current_pid_tgid();
  if (!zt_is_traced(id >> 32))
    return 0;
  struct zt_cu_launch_config cfg = {};
  bpf_probe_read_user(&cfg, sizeof(cfg), config);
  struct cuda_walk *w = walk_scratch();
  if (!w)
    return 0;
  struct cuda_launch_event *ev = &w->launch;
  fill_header(&ev->hdr, CUDA_EV_LAUNCH, CUDA_CALL_LAUNCH_KERNEL_EX, id, bpf_ktime_get_ns());
  ev->function = f;
  ev->stream = cfg.stream;
  ev->grid_x = cfg.grid_x;
  ev->grid_y = cfg.grid_y;
  ev->grid_z = cfg.grid_z;
  ev->block_x = cfg.block_x;
  ev->block_y = cfg.block_y;
  ev->block_z = cfg.block_z;
  ev->shared_mem_bytes = cfg.shared_mem_bytes;
  return launch_with_stack(ctx, w, id);
}

/* ---- CUfunction -> name ------------------------------------------------------------------ */

/* cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) */
SEC("uprobe")
int BPF_KPROBE(cuModuleGetFunction, void *hfunc, __u64 hmod, const char *name)
{
  return save_entry(ctx, CUDA_CALL_MODULE_GET_FUNCTION, (__u64)hfunc, hmod, (__u64)name, 0, false);
}

/* Shared by cuModuleGetFunction and cuLibraryGetKernel: (handle *out, container, name). */
static __always_inline int func_name_return(__u32 call, int ret)
{
  struct cuda_entry e;
  __u64 id;
  if (!take_entry(call, &e, &id) || ret != 0)
    return 0;
  struct cuda_func_name_event *ev = bpf_ringbuf_reserve(&cuda_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUDA_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUDA_EV_FUNC_NAME, call, id, e.ts);
  ev->function = 0;
  bpf_probe_read_user(&ev->function, sizeof(ev->function), (void *)e.arg0);
  ev->module = e.arg1;
  ev->name[0] = 0;
  bpf_probe_read_user_str(ev->name, sizeof(ev->name), (void *)e.arg2);
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(cuModuleGetFunction_ret, int ret)
{
  return func_name_return(CUDA_CALL_MODULE_GET_FUNCTION, ret);
}

/* cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name) */
SEC("uprobe")
int BPF_KPROBE(cuLibraryGetKernel, void *pkernel, __u64 library, const char *name)
{
  return save_entry(ctx, CUDA_CALL_LIBRARY_GET_KERNEL, (__u64)pkernel, library, (__u64)name, 0,
                    false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuLibraryGetKernel_ret, int ret)
{
  return func_name_return(CUDA_CALL_LIBRARY_GET_KERNEL, ret);
}

/* cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel) */
SEC("uprobe")
int BPF_KPROBE(cuKernelGetFunction, void *pfunc, __u64 kernel)
{
  return save_entry(ctx, CUDA_CALL_KERNEL_GET_FUNCTION, (__u64)pfunc, kernel, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuKernelGetFunction_ret, int ret)
{
  struct cuda_entry e;
  __u64 id;
  if (!take_entry(CUDA_CALL_KERNEL_GET_FUNCTION, &e, &id) || ret != 0)
    return 0;
  struct cuda_func_alias_event *ev = bpf_ringbuf_reserve(&cuda_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUDA_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUDA_EV_FUNC_ALIAS, CUDA_CALL_KERNEL_GET_FUNCTION, id, e.ts);
  ev->function = 0;
  bpf_probe_read_user(&ev->function, sizeof(ev->function), (void *)e.arg0);
  ev->kernel = e.arg1;
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

/* ---- allocations ------------------------------------------------------------------------- */

static __always_inline int alloc_return(__u32 call, int ret)
{
  struct cuda_entry e;
  __u64 id;
  if (!take_entry(call, &e, &id) || ret != 0)
    return 0;
  struct cuda_alloc_event *ev = bpf_ringbuf_reserve(&cuda_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUDA_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUDA_EV_ALLOC, call, id, e.ts);
  ev->dptr = 0;
  bpf_probe_read_user(&ev->dptr, sizeof(ev->dptr), (void *)e.arg0);
  ev->bytes = e.arg1;
  ev->stream = e.arg2;
  ev->ustack_id = e.ustack_id;
  ev->caller = e.caller;
  ev->result = ret;
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

/* cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) */
SEC("uprobe")
int BPF_KPROBE(cuMemAlloc_v2, void *dptr, __u64 bytes)
{
  return save_entry(ctx, CUDA_CALL_MEM_ALLOC, (__u64)dptr, bytes, 0, 0, true);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemAlloc_v2_ret, int ret)
{
  return alloc_return(CUDA_CALL_MEM_ALLOC, ret);
}

/* cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) */
SEC("uprobe")
int BPF_KPROBE(cuMemAllocAsync, void *dptr, __u64 bytes, __u64 stream)
{
  return save_entry(ctx, CUDA_CALL_MEM_ALLOC_ASYNC, (__u64)dptr, bytes, stream, 0, true);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemAllocAsync_ret, int ret)
{
  return alloc_return(CUDA_CALL_MEM_ALLOC_ASYNC, ret);
}

static __always_inline int free_return(__u32 call, int ret)
{
  struct cuda_entry e;
  __u64 id;
  if (!take_entry(call, &e, &id) || ret != 0)
    return 0;
  struct cuda_free_event *ev = bpf_ringbuf_reserve(&cuda_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUDA_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUDA_EV_FREE, call, id, e.ts);
  ev->dptr = e.arg0;
  ev->stream = e.arg1;
  ev->result = ret;
  ev->pad = 0;
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

/* cuMemFree_v2(CUdeviceptr dptr) */
SEC("uprobe")
int BPF_KPROBE(cuMemFree_v2, __u64 dptr)
{
  return save_entry(ctx, CUDA_CALL_MEM_FREE, dptr, 0, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemFree_v2_ret, int ret)
{
  return free_return(CUDA_CALL_MEM_FREE, ret);
}

/* cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) */
SEC("uprobe")
int BPF_KPROBE(cuMemFreeAsync, __u64 dptr, __u64 stream)
{
  return save_entry(ctx, CUDA_CALL_MEM_FREE_ASYNC, dptr, stream, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemFreeAsync_ret, int ret)
{
  return free_return(CUDA_CALL_MEM_FREE_ASYNC, ret);
}

/* ---- copies ------------------------------------------------------------------------------ */

static __always_inline int memcpy_return(__u32 call, __u32 dir, int ret)
{
  struct cuda_entry e;
  __u64 id;
  if (!take_entry(call, &e, &id))
    return 0;
  struct cuda_memcpy_event *ev = bpf_ringbuf_reserve(&cuda_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUDA_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUDA_EV_MEMCPY, call, id, e.ts);
  ev->bytes = e.arg0;
  ev->duration_ns = bpf_ktime_get_ns() - e.ts;
  ev->stream = e.arg1;
  ev->direction = dir;
  ev->result = ret;
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

/* cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes) */
SEC("uprobe")
int BPF_KPROBE(cuMemcpyHtoD_v2, __u64 dst, __u64 src, __u64 bytes)
{
  return save_entry(ctx, CUDA_CALL_MEMCPY_HTOD, bytes, 0, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemcpyHtoD_v2_ret, int ret)
{
  return memcpy_return(CUDA_CALL_MEMCPY_HTOD, CUDA_MEMCPY_HTOD, ret);
}

/* cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes) */
SEC("uprobe")
int BPF_KPROBE(cuMemcpyDtoH_v2, __u64 dst, __u64 src, __u64 bytes)
{
  return save_entry(ctx, CUDA_CALL_MEMCPY_DTOH, bytes, 0, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemcpyDtoH_v2_ret, int ret)
{
  return memcpy_return(CUDA_CALL_MEMCPY_DTOH, CUDA_MEMCPY_DTOH, ret);
}

/* cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes) */
SEC("uprobe")
int BPF_KPROBE(cuMemcpyDtoD_v2, __u64 dst, __u64 src, __u64 bytes)
{
  return save_entry(ctx, CUDA_CALL_MEMCPY_DTOD, bytes, 0, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemcpyDtoD_v2_ret, int ret)
{
  return memcpy_return(CUDA_CALL_MEMCPY_DTOD, CUDA_MEMCPY_DTOD, ret);
}

/* cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream hStream) */
SEC("uprobe")
int BPF_KPROBE(cuMemcpyAsync, __u64 dst, __u64 src, __u64 bytes, __u64 stream)
{
  return save_entry(ctx, CUDA_CALL_MEMCPY_ASYNC, bytes, stream, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemcpyAsync_ret, int ret)
{
  return memcpy_return(CUDA_CALL_MEMCPY_ASYNC, CUDA_MEMCPY_UNKNOWN, ret);
}

/* cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, CUstream hStream) */
SEC("uprobe")
int BPF_KPROBE(cuMemcpyHtoDAsync_v2, __u64 dst, __u64 src, __u64 bytes, __u64 stream)
{
  return save_entry(ctx, CUDA_CALL_MEMCPY_HTOD_ASYNC, bytes, stream, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemcpyHtoDAsync_v2_ret, int ret)
{
  return memcpy_return(CUDA_CALL_MEMCPY_HTOD_ASYNC, CUDA_MEMCPY_HTOD, ret);
}

/* cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, CUstream hStream) */
SEC("uprobe")
int BPF_KPROBE(cuMemcpyDtoHAsync_v2, __u64 dst, __u64 src, __u64 bytes, __u64 stream)
{
  return save_entry(ctx, CUDA_CALL_MEMCPY_DTOH_ASYNC, bytes, stream, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuMemcpyDtoHAsync_v2_ret, int ret)
{
  return memcpy_return(CUDA_CALL_MEMCPY_DTOH_ASYNC, CUDA_MEMCPY_DTOH, ret);
}

/* ---- synchronisation --------------------------------------------------------------------- */

static __always_inline int sync_return(__u32 call, int ret)
{
  struct cuda_entry e;
  __u64 id;
  if (!take_entry(call, &e, &id))
    return 0;
  struct cuda_sync_event *ev = bpf_ringbuf_reserve(&cuda_events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(CUDA_DROP_RINGBUF_FULL);
    return 0;
  }
  fill_header(&ev->hdr, CUDA_EV_SYNC, call, id, e.ts);
  ev->duration_ns = bpf_ktime_get_ns() - e.ts;
  ev->handle = e.arg0;
  ev->result = ret;
  ev->pad = 0;
  bpf_ringbuf_submit(ev, 0);
  return 0;
}

SEC("uprobe")
int BPF_KPROBE(cuCtxSynchronize)
{
  return save_entry(ctx, CUDA_CALL_CTX_SYNCHRONIZE, 0, 0, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuCtxSynchronize_ret, int ret)
{
  return sync_return(CUDA_CALL_CTX_SYNCHRONIZE, ret);
}

/* cuStreamSynchronize(CUstream hStream) */
SEC("uprobe")
int BPF_KPROBE(cuStreamSynchronize, __u64 stream)
{
  return save_entry(ctx, CUDA_CALL_STREAM_SYNCHRONIZE, stream, 0, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuStreamSynchronize_ret, int ret)
{
  return sync_return(CUDA_CALL_STREAM_SYNCHRONIZE, ret);
}

/* cuEventSynchronize(CUevent hEvent) */
SEC("uprobe")
int BPF_KPROBE(cuEventSynchronize, __u64 event)
{
  return save_entry(ctx, CUDA_CALL_EVENT_SYNCHRONIZE, event, 0, 0, 0, false);
}

SEC("uretprobe")
int BPF_KRETPROBE(cuEventSynchronize_ret, int ret)
{
  return sync_return(CUDA_CALL_EVENT_SYNCHRONIZE, ret);
}
