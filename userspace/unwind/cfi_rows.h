#pragma once

#include <cstdint>
#include <vector>

#include "core/result.h"
#include "unwind.h"

namespace zerotrace::unwind {

// A PT_LOAD segment: maps runtime addresses of a mapping to ELF virtual addresses.
struct LoadSegment {
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint64_t vaddr = 0;
};

// What the walker needs of one ELF file: its CFI as rows sorted by pc, and its segments.
struct CfiRows {
  std::vector<zt_unwind_row> rows;
  std::vector<LoadSegment> loads;
  uint64_t functions = 0;    // FDEs converted
  uint64_t unsupported = 0;  // rows whose rule the walker does not evaluate (it stops there)
  // More than ZT_UNWIND_MAX_ROWS_PER_FILE rows: none are given (the walker's binary search
  // would not reach them all); the file's frames follow frame pointers.
  bool over_row_bound = false;
};

// Converts the .eh_frame of the ELF open at `fd` (found through .eh_frame_hdr's table, which
// every binary linked by ld or lld carries) into rows: one per PC range with its own rule,
// consecutive equal rules merged, a ZT_UNWIND_CFA_NONE row after each function that another
// does not follow directly (so a PC between functions is not given the previous one's rule).
// Files without .eh_frame_hdr give no rows (their frames follow frame pointers); so do
// addresses above 4 GiB. At most ZT_UNWIND_MAX_ROWS_PER_FILE rows (see over_row_bound). An
// error: not an ELF file, or no program headers.
Result<CfiRows> ReadCfiRows(int fd);

// The ELF virtual address of runtime address `pc` in a mapping that starts at `start` and maps
// file offset `offset`, or false when no PT_LOAD segment holds that offset.
bool MappingBias(const std::vector<LoadSegment>& loads, uint64_t start, uint64_t offset,
                 uint64_t* bias);

}  // namespace zerotrace::unwind
