#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/result.h"
#include "unwind/unwind_tables.h"

struct bpf_map;
struct bpf_program;

namespace zerotrace::unwind {

// What every probe that walks stacks with bpf/unwind/dwarf_walk.bpf.h does with its object.
//
// Before load: makes the object's unwind_rows/unwind_procs/unwind_pending the collector's shared
// tables (created by the first probe, with `rows` rows). Returns nullptr when `cfi` is off (the
// object's tables are then shrunk to one entry each).
Result<std::shared_ptr<UnwindTables>> ShareTables(bool cfi, uint32_t rows, bpf_map* rows_map,
                                                  bpf_map* procs_map, bpf_map* pending_map);
// After load: puts the walker program in the object's unwind_progs (slot 0), the tail call
// target of every walk. `probe` names the probe in the error.
Status InstallWalker(bpf_map* progs, bpf_program* walker, const char* probe);
// Whether programs of `prog_type` (an enum bpf_prog_type) may call bpf_task_pt_regs() (5.15+);
// without it the walker finds a blocked task's user registers at the top of its kernel stack.
bool HaveTaskPtRegs(int prog_type);
// The object's walk outcomes (unwind_stats, zt_unwind_stat order), summed over CPUs.
std::vector<uint64_t> ReadWalkStats(bpf_map* stats);

}  // namespace zerotrace::unwind
