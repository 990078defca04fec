/* SPDX-License-Identifier: GPL-2.0 */
/* The user-stack walker shared by the stack-taking probes (#included by <probe>.bpf.c after
 * common.bpf.h): follows the CFI rows userspace derived from .eh_frame (bpf/unwind.h), and the
 * frame pointer where a PC has no rows. A probe program starts a walk with unwind_begin() and
 * tail-calls its own walker program (unwind_progs[0]), which runs unwind_run() and tail-calls
 * itself until the stack is complete; bounded loops and tail calls only, so it loads on 5.10.
 * One walk per CPU at a time: the state lives in a per-CPU array, and BPF programs do not nest
 * on a CPU while one of these runs (perf_event and tracepoint programs are not re-entered). */
#pragma once

#include <bpf/bpf_core_read.h>
#include "unwind.h"

#define ZT_UNWIND_EEXIST 17

/* Hash maps here are preallocated: before 6.1 perf_event programs may use no other kind.
 * unwind_rows, unwind_procs and unwind_pending are created once in userspace (UnwindTables) and
 * shared by every probe that walks stacks. */

/* Set by the loader: walk with CFI rows (false: bpf_get_stackid as before). */
const volatile bool unwind_enabled = false;
/* bpf_task_pt_regs() exists (Linux 5.15+); before, the registers are found at the top of the
 * task's kernel stack (no FRED padding exists on those kernels). */
const volatile bool unwind_have_task_pt_regs = false;

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, ZT_UNWIND_DEFAULT_ROWS);
  __type(key, __u32);
  __type(value, struct zt_unwind_row);
} unwind_rows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, ZT_UNWIND_DEFAULT_PROCS);
  __type(key, __u32);
  __type(value, struct zt_unwind_proc);
} unwind_procs SEC(".maps");

/* Processes (tgid) userspace should describe or describe again (a PC in no known mapping). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, ZT_UNWIND_PENDING_ENTRIES);
  __type(key, __u32);
  __type(value, __u8);
} unwind_pending SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, struct zt_unwind_stack);
} unwind_stacks SEC(".maps");

/* Python threads found: (tgid << 32 | tid) -> its PyThreadState, checked at every use. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, ZT_PY_THREAD_CACHE);
  __type(key, __u64);
  __type(value, __u64);
} unwind_py_threads SEC(".maps");

/* Per Python process, where the next search of its thread list resumes past the first
 * ZT_PY_MAX_THREADS (a process with more threads is searched a window per sample). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u64);
} unwind_py_cursor SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, ZT_UNWIND_STAT_MAX);
  __type(key, __u32);
  __type(value, __u64);
} unwind_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} unwind_progs SEC(".maps");

/* SEARCHED: the run looked up the thread's Python frames only; the walk starts in the next run. */
enum zt_unwind_walk { ZT_UNWIND_WALK_MORE = 0, ZT_UNWIND_WALK_DONE = 1, ZT_UNWIND_WALK_SEARCHED = 2 };

struct zt_unwind_state {
  __u64 ip, sp, bp;
  __u32 tgid, tid;
  __s32 kstack_id;
  __u32 runs;
  __u8 exact_ip; /* the next PC is an interrupted one (leaf, after a signal frame), not a return */
  __u8 py_active;   /* recording the Python frames of the eval-loop C frame at st->ip */
  __u8 py_replaced; /* they are recorded: step past that C frame without recording it */
  __u8 pad[5];
  __u64 py_frame;   /* the next Python frame of the thread's chain (0: none) */
  __u64 aux; /* the probe's own (e.g. off-CPU's block time) */
  struct zt_unwind_stack stack;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct zt_unwind_state);
} unwind_scratch SEC(".maps");

static __always_inline void unwind_count(__u32 stat)
{
  __u64 *v = bpf_map_lookup_elem(&unwind_stats, &stat);
  if (v)
    *v += 1;
}

/* What a walk starts from. */
struct zt_unwind_regs {
  __u64 ip, sp, bp;
};

/* One 8-byte load at a constant offset of a context pointer, as the verifier requires (clang
 * may otherwise compute ctx + off first, and a modified context pointer is refused). */
#define ZT_CTX_U64(ctx, off)                                                   \
  ({                                                                           \
    __u64 __v;                                                                 \
    asm volatile("%0 = *(u64 *)(%1 + " #off ")" : "=r"(__v) : "r"(ctx));       \
    __v;                                                                       \
  })

/* The interrupted registers of a perf_event sample (x86-64 pt_regs: bp at 32, ip 128, cs 136,
 * sp 152); false when the sample was taken in the kernel. */
static __always_inline bool unwind_sample_regs(void *ctx, struct zt_unwind_regs *out)
{
  if (!(ZT_CTX_U64(ctx, 136) & 3))
    return false;
  out->bp = ZT_CTX_U64(ctx, 32);
  out->ip = ZT_CTX_U64(ctx, 128);
  out->sp = ZT_CTX_U64(ctx, 152);
  return true;
}

/* The user registers of the current task as saved on kernel entry. */
static __always_inline bool unwind_user_regs(struct zt_unwind_regs *out)
{
  struct pt_regs *r;
  if (unwind_have_task_pt_regs) {
    r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
  } else {
    /* x86-64 before 5.15: pt_regs sit at the top of the THREAD_SIZE (16 KiB) kernel stack. */
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    void *stack = BPF_CORE_READ(task, stack);
    if (!stack)
      return false;
    r = (struct pt_regs *)((char *)stack + 16384 - sizeof(struct pt_regs));
  }
  return bpf_probe_read_kernel(&out->ip, sizeof(out->ip), &r->ip) == 0 &&
         bpf_probe_read_kernel(&out->sp, sizeof(out->sp), &r->sp) == 0 &&
         bpf_probe_read_kernel(&out->bp, sizeof(out->bp), &r->bp) == 0;
}

/* 1 when a <= b, else 0, without a branch (both below 2^63: user addresses, file offsets). The
 * binary searches below update their bounds with it arithmetically, so the verifier follows one
 * path per step instead of two (two per step would be 2^22 paths for a row search). */
static __always_inline __u64 unwind_le(__u64 a, __u64 b)
{
  __u64 le = (a - b - 1) >> 63;
  barrier_var(le);
  return le;
}

/* The described mapping holding `pc`, or NULL. Userspace keeps count <= ZT_UNWIND_MAX_MAPPINGS;
 * indexes are masked anyway. */
static __always_inline const struct zt_unwind_mapping *unwind_find_mapping(
    const struct zt_unwind_proc *proc, __u64 pc)
{
  __u64 lo = 0, hi = proc->count;
  if (hi == 0)
    return NULL;
  for (int i = 0; i < ZT_UNWIND_MAPPING_SEARCH_STEPS + 1; i++) {
    if (hi - lo <= 1)
      break;
    __u64 mid = (lo + hi) / 2;
    __u64 right = unwind_le(proc->mappings[mid & (ZT_UNWIND_MAX_MAPPINGS - 1)].start, pc);
    lo += (mid - lo) * right;
    hi = mid + (hi - mid) * right;
  }
  const struct zt_unwind_mapping *m = &proc->mappings[lo & (ZT_UNWIND_MAX_MAPPINGS - 1)];
  if (pc < m->start || pc >= m->end)
    return NULL;
  return m;
}

/* The last row of [begin, begin + count) whose pc is <= `pc`, or NULL. */
static __always_inline const struct zt_unwind_row *unwind_find_row(__u32 begin, __u32 count,
                                                                   __u32 pc)
{
  __u64 lo = 0, hi = count;
  for (int i = 0; i < ZT_UNWIND_ROW_SEARCH_STEPS + 1; i++) {
    if (hi - lo <= 1)
      break;
    __u64 mid = (lo + hi) / 2;
    __u32 idx = begin + (__u32)mid;
    const struct zt_unwind_row *r = bpf_map_lookup_elem(&unwind_rows, &idx);
    if (!r)
      return NULL;
    __u64 right = unwind_le(r->pc, pc);
    lo += (mid - lo) * right;
    hi = mid + (hi - mid) * right;
  }
  __u32 idx = begin + (__u32)lo;
  const struct zt_unwind_row *r = bpf_map_lookup_elem(&unwind_rows, &idx);
  if (!r || r->pc > pc)
    return NULL;
  return r;
}

static __always_inline int unwind_stop(__u32 stat)
{
  unwind_count(stat);
  return ZT_UNWIND_WALK_DONE;
}

/* One frame by frame pointer: [rbp] is the caller's rbp, [rbp + 8] the return address. */
static __always_inline int unwind_fp_step(struct zt_unwind_state *st)
{
  __u64 bp = st->bp, ra = 0, next_bp = 0;
  unwind_count(ZT_UNWIND_STAT_FP_FRAMES);
  if (!bp || bp < st->sp)
    return unwind_stop(ZT_UNWIND_STAT_STOPPED);
  if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(bp + 8)) ||
      bpf_probe_read_user(&next_bp, sizeof(next_bp), (void *)bp))
    return unwind_stop(ZT_UNWIND_STAT_STOPPED);
  st->sp = bp + 16;
  st->bp = next_bp;
  st->ip = ra;
  return ra ? ZT_UNWIND_WALK_MORE : unwind_stop(ZT_UNWIND_STAT_COMPLETE);
}

/* The x86-64 rt_sigframe: the handler returned into the restorer with rsp at the ucontext;
 * uc_mcontext starts 40 bytes in, and rbp, rsp, rip are its greg slots 10, 15, 16. */
static __always_inline int unwind_signal_step(struct zt_unwind_state *st)
{
  __u64 regs[7];
  if (bpf_probe_read_user(regs, sizeof(regs), (void *)(st->sp + 40 + 10 * 8)))
    return unwind_stop(ZT_UNWIND_STAT_STOPPED);
  st->bp = regs[0];
  st->sp = regs[5];
  st->ip = regs[6];
  st->exact_ip = 1;
  return st->ip ? ZT_UNWIND_WALK_MORE : unwind_stop(ZT_UNWIND_STAT_STOPPED);
}

static __always_inline __u64 unwind_py_read(__u64 addr)
{
  __u64 v = 0;
  if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
    return 0;
  return v;
}

/* The frame a thread state is running (0: none). */
static __always_inline __u64 unwind_py_thread_frame(const struct zt_unwind_python *py, __u64 ts)
{
  __u64 f = unwind_py_read(ts + py->tstate_frame);
  if (f && py->cframe_frame != ZT_PY_NO_CFRAME)
    f = unwind_py_read(f + py->cframe_frame);
  return f;
}

/* The current task's innermost Python frame. Its thread state is the one of the process's first
 * interpreter whose thread id (pthread_self(), the FS base) is the task's: neither the GIL holder
 * nor the thread-local state would do, both are unset while the thread runs C code or blocks with
 * the GIL released, which is when on-CPU (zlib, numpy) and off-CPU samples are taken. Found
 * thread states are cached per thread; the list (newest first) is searched ZT_PY_MAX_THREADS at a
 * time, from its head and then from where the process's last search stopped, so a thread of a
 * process with hundreds is found within a few samples. */
static __always_inline __u64 unwind_py_top_frame(const struct zt_unwind_python *py, __u32 tgid,
                                                 __u32 tid)
{
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  const __u64 fsbase = BPF_CORE_READ(task, thread.fsbase);
  const __u64 key = ((__u64)tgid << 32) | tid;
  const __u64 *cached = bpf_map_lookup_elem(&unwind_py_threads, &key);
  if (cached && *cached && unwind_py_read(*cached + py->tstate_thread_id) == fsbase)
    return unwind_py_thread_frame(py, *cached);
  const __u64 interp = unwind_py_read(py->runtime + py->interp_head);
  if (!interp)
    return 0;
  __u64 ts = unwind_py_read(interp + py->threads_head);
  const __u64 *cursor = bpf_map_lookup_elem(&unwind_py_cursor, &tgid);
  __u64 resume = cursor ? *cursor : 0;
  for (int window = 0; window < 2; window++) {
    for (int i = 0; i < ZT_PY_MAX_THREADS; i++) {
      if (!ts)
        break;
      if (unwind_py_read(ts + py->tstate_thread_id) == fsbase) {
        bpf_map_update_elem(&unwind_py_threads, &key, &ts, BPF_ANY);
        return unwind_py_thread_frame(py, ts); /* 0: the thread runs no Python code now */
      }
      ts = unwind_py_read(ts + py->tstate_next);
    }
    if (window == 0) {
      /* Past the first window: go on from the last search's stop (or here, the first time). */
      if (!ts)
        break;
      if (resume)
        ts = resume;
    }
  }
  /* Where the next search resumes; 0 (the list's end, or unreadable): from the head again. */
  bpf_map_update_elem(&unwind_py_cursor, &tgid, &ts, BPF_ANY);
  unwind_count(ZT_UNWIND_STAT_PY_NO_THREAD);
  return 0;
}

static __always_inline bool unwind_py_in_eval(const struct zt_unwind_python *py, __u64 pc)
{
  return (pc >= py->eval_start && pc < py->eval_end) ||
         (pc >= py->cold_start && pc < py->cold_end);
}

/* Records the next Python frame of the activation being replaced (one per call, like a native
 * frame); after its entry frame the walk goes on with the native caller of the C frame. */
static __always_inline int unwind_py_step(struct zt_unwind_state *st,
                                          const struct zt_unwind_python *py)
{
  const __u64 f = st->py_frame;
  __u64 code = 0, instr = 0, previous = 0;
  __u8 entry = 0;
  if (bpf_probe_read_user(&code, sizeof(code), (void *)(f + py->frame_code)) ||
      bpf_probe_read_user(&instr, sizeof(instr), (void *)(f + py->frame_instr)) ||
      bpf_probe_read_user(&previous, sizeof(previous), (void *)(f + py->frame_previous)) ||
      bpf_probe_read_user(&entry, sizeof(entry), (void *)(f + py->frame_entry)) || !code) {
    /* The chain is unreadable: keep the C frame, and no Python frames for the rest of the
     * stack (they could not be matched to their activations any more). */
    unwind_count(ZT_UNWIND_STAT_PY_READ_FAULT);
    st->py_active = 0;
    st->py_frame = 0;
    return ZT_UNWIND_WALK_MORE;
  }
  st->py_frame = previous;
  bool last = true; /* ZT_PY_ENTRY_EVERY */
  if (py->entry_rule == ZT_PY_ENTRY_CSTACK) {
    if (entry == ZT_PY_OWNED_BY_CSTACK)
      goto activation_done; /* the trampoline frame: not Python code */
    last = false;
  } else if (py->entry_rule == ZT_PY_ENTRY_FLAG) {
    last = entry != 0;
  }
  {
    __u32 len = st->stack.len;
    if (len >= ZT_STACK_DEPTH)
      return unwind_stop(ZT_UNWIND_STAT_TRUNCATED);
    __u64 index = 0;
    if (py->instr_rule == ZT_PY_INSTR_POINTER) {
      const __u64 first = code + py->code_units;
      if (instr >= first)
        index = (instr - first) / 2 + 1;
    } else {
      const __s32 lasti = (__s32)instr; /* the int's 4 bytes (little-endian) */
      if (lasti >= 0)
        index = (py->instr_rule == ZT_PY_INSTR_LASTI_BYTES ? (__u64)lasti / 2 : (__u64)lasti) + 1;
    }
    if (index > ZT_PY_INDEX_MAX)
      index = ZT_PY_INDEX_MAX;
    barrier_var(len);
    st->stack.pcs[len & 127] = ZT_PY_FRAME_BIT | (index << ZT_PY_INDEX_SHIFT) |
                               ((code >> 4) & ((1ULL << ZT_PY_INDEX_SHIFT) - 1));
    st->stack.len = len + 1;
    unwind_count(ZT_UNWIND_STAT_PY_FRAMES);
  }
  if (!last)
    return ZT_UNWIND_WALK_MORE;
activation_done:
  st->py_active = 0;
  st->py_replaced = 1;
  return ZT_UNWIND_WALK_MORE;
}

/* Records st->ip (or the Python frames it runs) and moves st to the caller's frame. */
static __always_inline int unwind_frame(struct zt_unwind_state *st, const struct zt_unwind_proc *proc)
{
  const struct zt_unwind_python *py = &proc->python;
  if (st->py_active)
    return unwind_py_step(st, py);
  /* A return address points after the call: look up the call itself (the call may be the last
   * instruction of a noreturn function's caller). */
  const __u64 pc = st->exact_ip ? st->ip : st->ip - 1;
  if (st->py_frame && !st->py_replaced && unwind_py_in_eval(py, pc)) {
    st->py_active = 1;
    return unwind_py_step(st, py);
  }
  if (st->py_replaced) {
    st->py_replaced = 0;
  } else {
    __u32 len = st->stack.len;
    if (len >= ZT_STACK_DEPTH)
      return unwind_stop(ZT_UNWIND_STAT_TRUNCATED);
    barrier_var(len);
    st->stack.pcs[len & 127] = st->ip;
    st->stack.len = len + 1;
  }
  st->exact_ip = 0;
  const struct zt_unwind_mapping *m = unwind_find_mapping(proc, pc);
  if (!m) {
    unwind_count(ZT_UNWIND_STAT_UNKNOWN_MAPPING);
    __u8 one = 1;
    bpf_map_update_elem(&unwind_pending, &st->tgid, &one, BPF_NOEXIST);
    return unwind_fp_step(st);
  }
  if (!m->row_count && m->row_begin == ZT_UNWIND_ROWS_MISSING)
    return unwind_stop(ZT_UNWIND_STAT_STOPPED);
  const struct zt_unwind_row *row = NULL;
  if (m->row_count && pc - m->bias <= 0xffffffffULL)
    row = unwind_find_row(m->row_begin, m->row_count, (__u32)(pc - m->bias));
  if (!row || row->cfa_rule == ZT_UNWIND_CFA_NONE)
    return unwind_fp_step(st);

  unwind_count(ZT_UNWIND_STAT_CFI_FRAMES);
  __u64 cfa;
  switch (row->cfa_rule) {
  case ZT_UNWIND_CFA_RSP:
    cfa = st->sp + row->cfa_offset;
    break;
  case ZT_UNWIND_CFA_RBP:
    if (!st->bp)
      return unwind_stop(ZT_UNWIND_STAT_STOPPED);
    cfa = st->bp + row->cfa_offset;
    break;
  case ZT_UNWIND_CFA_PLT:
    cfa = st->sp + row->cfa_offset + ((st->ip & 15) >= (__u64)row->param ? 8 : 0);
    break;
  case ZT_UNWIND_CFA_DEREF_RSP:
    if (bpf_probe_read_user(&cfa, sizeof(cfa), (void *)(st->sp + row->cfa_offset)))
      return unwind_stop(ZT_UNWIND_STAT_STOPPED);
    cfa += row->param;
    break;
  case ZT_UNWIND_CFA_SIGNAL:
    return unwind_signal_step(st);
  case ZT_UNWIND_CFA_END:
    return unwind_stop(ZT_UNWIND_STAT_COMPLETE);
  default:
    return unwind_stop(ZT_UNWIND_STAT_STOPPED);
  }
  /* The return address is at CFA - 8, above everything this frame pushed. */
  if (cfa < st->sp + 8)
    return unwind_stop(ZT_UNWIND_STAT_STOPPED);
  __u64 ra = 0;
  if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)))
    return unwind_stop(ZT_UNWIND_STAT_STOPPED);
  if (row->rbp_rule == ZT_UNWIND_RBP_AT_CFA) {
    __u64 bp = 0;
    if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + row->param)))
      return unwind_stop(ZT_UNWIND_STAT_STOPPED);
    st->bp = bp;
  } else if (row->rbp_rule == ZT_UNWIND_RBP_UNKNOWN) {
    st->bp = 0;
  }
  st->sp = cfa;
  st->ip = ra;
  return ra ? ZT_UNWIND_WALK_MORE : unwind_stop(ZT_UNWIND_STAT_COMPLETE);
}

/* Starts a walk of the current task's user stack in the per-CPU state (`perf_ctx`: a perf_event
 * program's context, whose registers are used when it interrupted user code; else NULL); NULL
 * when the process is not described (it is then queued for userspace) or has no registers to start from. */
static __always_inline struct zt_unwind_state *unwind_begin(void *perf_ctx, __u32 tgid,
                                                         __u32 tid)
{
  if (!unwind_enabled)
    return NULL;
  struct zt_unwind_proc *proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
  if (!proc) {
    __u8 one = 1;
    unwind_count(ZT_UNWIND_STAT_NO_PROC);
    bpf_map_update_elem(&unwind_pending, &tgid, &one, BPF_NOEXIST);
    return NULL;
  }
  if (!proc->count)
    return NULL;
  if (!proc->walked)
    proc->walked = 1; /* one store per process between re-checks, not one per sample */
  __u32 zero = 0;
  struct zt_unwind_state *st = bpf_map_lookup_elem(&unwind_scratch, &zero);
  if (!st)
    return NULL;
  struct zt_unwind_regs regs;
  if (!(perf_ctx && unwind_sample_regs(perf_ctx, &regs)) && !unwind_user_regs(&regs))
    return NULL;
  st->ip = regs.ip;
  st->sp = regs.sp;
  st->bp = regs.bp;
  st->tgid = tgid;
  st->tid = tid;
  st->runs = 0;
  st->exact_ip = 1;
  st->py_active = 0;
  st->py_replaced = 0;
  st->py_frame = 0; /* found by the walker's first run (its search is verified once there) */
  st->stack.len = 0;
  return st;
}

/* Walks up to ZT_UNWIND_FRAMES_PER_RUN frames; MORE when the walker should run again. */
static __always_inline int unwind_run(struct zt_unwind_state *st)
{
  const struct zt_unwind_proc *proc = bpf_map_lookup_elem(&unwind_procs, &st->tgid);
  if (!proc)
    return unwind_stop(ZT_UNWIND_STAT_STOPPED); /* exited meanwhile */
  /* A Python process's thread search is a run of its own, which ends in the next tail call and
   * nowhere else: its loops' many exits would otherwise each be verified through the frame walk
   * or the stack's store (5.10's verifier passed 1M instructions so). It counts as a run, so the
   * chain stays within 32 tail calls. */
  if (st->runs == 0 && proc->python.runtime) {
    st->py_frame = unwind_py_top_frame(&proc->python, st->tgid, st->tid);
    st->runs++;
    return ZT_UNWIND_WALK_SEARCHED;
  }
  for (int i = 0; i < ZT_UNWIND_FRAMES_PER_RUN; i++) {
    if (unwind_frame(st, proc) == ZT_UNWIND_WALK_DONE)
      return ZT_UNWIND_WALK_DONE;
  }
  if (st->runs + 1 >= ZT_UNWIND_MAX_RUNS)
    return unwind_stop(ZT_UNWIND_STAT_TRUNCATED);
  st->runs++;
  return ZT_UNWIND_WALK_MORE;
}

/* The body of a probe's walker program: walks the next frames and tail-calls the walker again
 * while the stack goes on (a tail call does not return). Returns the state once the walk is
 * over (complete, or cut where a tail call failed), for the probe to store and use; NULL when
 * there is no state. */
static __always_inline struct zt_unwind_state *unwind_continue(void *ctx)
{
  __u32 zero = 0;
  struct zt_unwind_state *st = bpf_map_lookup_elem(&unwind_scratch, &zero);
  if (!st)
    return NULL;
  const int walk = unwind_run(st);
  if (walk == ZT_UNWIND_WALK_SEARCHED) {
    bpf_tail_call(ctx, &unwind_progs, 0);
    unwind_count(ZT_UNWIND_STAT_STOPPED); /* the tail call failed: nothing walked to keep */
    return NULL;
  }
  if (walk == ZT_UNWIND_WALK_MORE) {
    bpf_tail_call(ctx, &unwind_progs, 0);
    unwind_count(ZT_UNWIND_STAT_TRUNCATED); /* the tail call failed: keep what was walked */
  }
  return st;
}

/* Stores the walked stack under its id (ZT_UNWIND_STACK_ID_BIT | hash bits). Returns the id, or a
 * negative error as bpf_get_stackid() would (-EEXIST: another stack has that id). */
static __always_inline __s32 unwind_store(struct zt_unwind_state *st)
{
  __u64 h = 0xcbf29ce484222325ULL;
  __u32 len = st->stack.len;
  for (int i = 0; i < ZT_STACK_DEPTH; i++) {
    if (i >= len)
      break;
    h = (h ^ st->stack.pcs[i]) * 0x100000001b3ULL;
  }
  h ^= len;
  /* FNV's low bits depend only on the inputs' low bits, and the id keeps the low 30: mix the high
   * ones in (a Python frame's instruction index sits in bits 43-58; without this two stacks
   * differing only in a line share an id and the second is dropped as a collision). */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  st->stack.hash = h;
  __u32 id = ZT_UNWIND_STACK_ID_BIT | (__u32)(h & (ZT_UNWIND_STACK_ID_BIT - 1));
  /* Most samples repeat a stored stack: look it up first (a lookup takes no bucket lock). */
  const struct zt_unwind_stack *old = bpf_map_lookup_elem(&unwind_stacks, &id);
  if (!old) {
    long err = bpf_map_update_elem(&unwind_stacks, &id, &st->stack, BPF_NOEXIST);
    if (err == 0)
      return id;
    old = bpf_map_lookup_elem(&unwind_stacks, &id); /* another CPU stored it meanwhile */
    if (!old)
      return (__s32)err;
  }
  if (old->hash == h)
    return id;
  unwind_count(ZT_UNWIND_STAT_STACK_COLLISION);
  return -ZT_UNWIND_EEXIST;
}
