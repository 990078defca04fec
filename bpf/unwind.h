/* Native user-stack unwinding without frame pointers: kernel/user ABI.
 *
 * Userspace converts each mapped ELF file's .eh_frame into rows (one per PC range: how to find
 * the canonical frame address, the return address and the caller's rbp), stores them in the
 * `unwind_rows` array, one contiguous sorted run per file, and describes every traced process's
 * executable mappings in `unwind_procs`. The BPF walker (bpf/unwind/dwarf_walk.bpf.h) looks up
 * each frame's PC there; where a mapping has no rows it follows the frame pointer. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Executable mappings described per process (a process with more keeps the lowest ones; the last
 * entry then covers all the others as ZT_UNWIND_ROWS_MISSING, and the process is counted as over
 * the bound). */
#define ZT_UNWIND_MAX_MAPPINGS 256
/* Binary-search steps over one file's rows: at most 2^22 rows per file (libxul-sized files;
 * libc has about 30k). Bigger files are not converted (counted). */
#define ZT_UNWIND_ROW_SEARCH_STEPS 22
#define ZT_UNWIND_MAX_ROWS_PER_FILE (1u << ZT_UNWIND_ROW_SEARCH_STEPS)
#define ZT_UNWIND_MAPPING_SEARCH_STEPS 8 /* log2(ZT_UNWIND_MAX_MAPPINGS) */
/* Frames walked per program run; the walker tail-calls itself for the next ones (at most 33
 * runs in a chain: 32 * 4 = 128 >= ZT_STACK_DEPTH frames). */
#define ZT_UNWIND_FRAMES_PER_RUN 4
#define ZT_UNWIND_MAX_RUNS 32
/* Stack ids of walked stacks have this bit set, so they never meet the stack map's ids. */
#define ZT_UNWIND_STACK_ID_BIT 0x40000000
#define ZT_UNWIND_DEFAULT_ROWS (1u << 20)
/* Processes described at once (8 KiB each, preallocated: perf_event programs may only use
 * preallocated hash maps before 6.1). Others' stacks are taken by frame pointers (counted). */
#define ZT_UNWIND_DEFAULT_PROCS 1024
#define ZT_UNWIND_PENDING_ENTRIES 1024

enum zt_unwind_cfa_rule {
  ZT_UNWIND_CFA_NONE = 0,        /* no CFI here (a gap between functions): follow rbp */
  ZT_UNWIND_CFA_RSP = 1,         /* CFA = rsp + cfa_offset */
  ZT_UNWIND_CFA_RBP = 2,         /* CFA = rbp + cfa_offset */
  ZT_UNWIND_CFA_PLT = 3,         /* PLT entry: CFA = rsp + cfa_offset + ((ip & 15) >= param ? 8 : 0) */
  ZT_UNWIND_CFA_SIGNAL = 4,      /* sigreturn trampoline: the interrupted registers are in the
                               * ucontext at rsp (x86-64 rt_sigframe) */
  ZT_UNWIND_CFA_END = 5,         /* outermost frame (return address undefined): stack complete */
  ZT_UNWIND_CFA_UNSUPPORTED = 6, /* a DWARF expression the walker does not evaluate: stop */
  ZT_UNWIND_CFA_DEREF_RSP = 7,   /* CFA = *(rsp + cfa_offset) + param (OpenSSL's assembly, whose
                                  * functions keep the caller's rsp in a stack slot) */
};

enum zt_unwind_rbp_rule {
  ZT_UNWIND_RBP_SAME = 0,     /* the caller's rbp is this frame's */
  ZT_UNWIND_RBP_AT_CFA = 1,   /* saved at CFA + param */
  ZT_UNWIND_RBP_UNKNOWN = 2,  /* clobbered or an expression: unknown (0) in the caller */
};

/* 12 bytes; sorted by pc within a file's run. `pc` is the ELF virtual address. */
struct zt_unwind_row {
  __u32 pc;
  __s32 cfa_offset;
  __s16 param; /* rbp offset from the CFA (ZT_UNWIND_RBP_AT_CFA) or the PLT threshold */
  __u8 cfa_rule;
  __u8 rbp_rule;
};

struct zt_unwind_mapping {
  __u64 start;
  __u64 end;
  __u64 bias;      /* ELF virtual address = runtime address - bias */
  __u32 row_begin; /* index of the file's first row in unwind_rows */
  __u32 row_count; /* 0: no rows (follow frame pointers, or stop: ZT_UNWIND_ROWS_MISSING) */
};

/* row_begin of a mapping without rows whose code has CFI that a bound kept out of the tables (the
 * rows array full, a file over the row bound, mappings past ZT_UNWIND_MAX_MAPPINGS): the walk
 * stops there, counted `stopped`. Code that has CFI is usually built without frame pointers, so
 * following rbp would name wrong callers; a shorter stack is better than a wrong one. */
#define ZT_UNWIND_ROWS_MISSING 0xffffffffu

/* Python frames (CPython 3.11+): where the walk meets a C frame of the interpreter's eval loop, it
 * records instead the Python frames that activation runs, read from the thread's frame chain.
 * Userspace fills this per process from the interpreter's symbols and its version's layout
 * (userspace/python/); runtime == 0: no Python frames. Offsets are in bytes. */
enum zt_py_entry_rule {
  ZT_PY_ENTRY_FLAG = 1,   /* 3.11: a byte set in the first frame an activation ran */
  ZT_PY_ENTRY_CSTACK = 2, /* 3.12+: the activation's first frame is preceded by a C-owned
                           * trampoline frame (owner byte == ZT_PY_OWNED_BY_CSTACK), not shown */
  ZT_PY_ENTRY_EVERY = 3,  /* 3.8-3.10: every frame is one C call of the eval loop */
};
/* Where a frame's current instruction is. */
enum zt_py_instr_rule {
  ZT_PY_INSTR_POINTER = 0,     /* 3.11+: a pointer into the code object's code units */
  ZT_PY_INSTR_LASTI_BYTES = 1, /* 3.8, 3.9: int f_lasti, a byte offset (-1: not started) */
  ZT_PY_INSTR_LASTI_UNITS = 2, /* 3.10: int f_lasti, in code units */
};
#define ZT_PY_OWNED_BY_CSTACK 3
#define ZT_PY_NO_CFRAME 0xffff /* cframe_frame: tstate_frame points at the frame itself */
/* Thread states searched for the sampled thread per sample and window (bpf/unwind/
 * dwarf_walk.bpf.h: the list's head, then where the last search stopped), and threads whose
 * thread state is remembered. */
#define ZT_PY_MAX_THREADS 32
#define ZT_PY_THREAD_CACHE 8192

struct zt_unwind_python {
  __u64 runtime;               /* address of _PyRuntime */
  __u64 eval_start, eval_end;  /* _PyEval_EvalFrameDefault's code */
  __u64 cold_start, cold_end;  /* its compiler-split cold part (0, 0: none found) */
  __u16 interp_head;           /* _PyRuntime -> first interpreter */
  __u16 threads_head;          /* interpreter -> first thread state */
  __u16 tstate_next;
  __u16 tstate_thread_id;      /* pthread_self() of the thread: its FS base */
  __u16 tstate_frame;          /* thread state -> cframe (3.11, 3.12) or current frame */
  __u16 cframe_frame;          /* cframe -> current frame, or ZT_PY_NO_CFRAME */
  __u16 frame_code;
  __u16 frame_previous;
  __u16 frame_instr;           /* the frame's current instruction (instr_rule) */
  __u16 frame_entry;           /* the entry byte or owner byte (entry_rule) */
  __u16 code_units;            /* offset of the first code unit in a code object */
  __u8 entry_rule;
  __u8 instr_rule;
};

/* A Python frame in a walked stack: bit 63 set (no user address has it), the code object's
 * address >> 4 in bits 0-42 (47-bit user space, 16-byte aligned objects) and the instruction
 * index + 1 in bits 43-58 (0: the frame has run no instruction yet; 0xffff: at or past it). */
#define ZT_PY_FRAME_BIT (1ULL << 63)
#define ZT_PY_INDEX_SHIFT 43
#define ZT_PY_INDEX_MAX 0xffffULL

/* Value of unwind_procs, keyed by tgid; mappings sorted by start. count == 0: the process could
 * not be described (its stacks are taken with bpf_get_stackid, as without unwinding). */
struct zt_unwind_proc {
  __u32 count;
  /* Set by the walker when it walks one of the process's stacks; userspace clears it when it
   * re-checks the process's mappings, and re-checks only processes walked since (an idle
   * process's stale description costs nothing until it is sampled again). */
  __u32 walked;
  struct zt_unwind_python python;
  struct zt_unwind_mapping mappings[ZT_UNWIND_MAX_MAPPINGS];
};

/* A walked user stack (value of `unwind_stacks`, keyed by its id). */
struct zt_unwind_stack {
  __u64 hash;
  __u32 len;
  __u32 pad;
  __u64 pcs[127]; /* ZT_STACK_DEPTH, leaf first */
};

/* Per-CPU counters of walk outcomes (indexes of `unwind_stats`). */
enum zt_unwind_stat {
  ZT_UNWIND_STAT_COMPLETE = 0,      /* reached the outermost frame */
  ZT_UNWIND_STAT_TRUNCATED = 1,     /* ZT_STACK_DEPTH frames and more to go */
  ZT_UNWIND_STAT_STOPPED = 2,       /* unreadable memory, no progress, or an unsupported rule */
  ZT_UNWIND_STAT_FP_FRAMES = 3,     /* frames followed by frame pointer (no rows for the PC) */
  ZT_UNWIND_STAT_CFI_FRAMES = 4,    /* frames followed by CFI rows */
  ZT_UNWIND_STAT_NO_PROC = 5,       /* samples of a process not described yet (stack map used) */
  ZT_UNWIND_STAT_UNKNOWN_MAPPING = 6, /* a PC outside every described mapping (JIT, new dlopen) */
  ZT_UNWIND_STAT_STACK_COLLISION = 7, /* two stacks with one id: the sample kept, its frames not */
  ZT_UNWIND_STAT_PY_FRAMES = 8,      /* Python frames recorded */
  ZT_UNWIND_STAT_PY_NO_THREAD = 9,   /* a Python process's sampled thread not found (native only) */
  ZT_UNWIND_STAT_PY_READ_FAULT = 10, /* a Python frame unreadable: the C frame kept instead */
  ZT_UNWIND_STAT_MAX = 11,
};
