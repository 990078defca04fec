#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace zerotrace {

// What the kernel's verifier reported for one program it accepted (BPF_LOG_STATS): the budget
// it spent, to keep headroom on the oldest kernel of the matrix (docs/compatibility.md).
struct VerifierStats {
  std::string probe;
  std::string program;
  uint64_t insns_processed = 0;
  uint64_t insn_limit = 0;
  std::vector<uint32_t> stack_depths;  // per subprogram, the main program first
  // The deepest stack a call chain can use (main + its deepest callee; chains are 2 deep).
  uint32_t combined_stack() const;
};

// Every probe loads its skeleton through this one function: the error names the program the
// kernel refused and the verifier's own last words ("combined stack size of 2 calls is 576.
// Too large"), not just EACCES. With stats recording on, each loaded program's verifier stats
// are kept (see TakeVerifierStats).
Status LoadBpfSkeleton(bpf_object_skeleton* skeleton, const std::string& probe);

// Off by default: BPF_LOG_STATS asks each program's load for a small log. `zerotrace probe`
// turns it on for its load check.
void SetVerifierStatsRecording(bool on);
std::vector<VerifierStats> TakeVerifierStats();

// Parsing, separate for tests. The reason: the last line of a failed load's verifier log that is
// not a statistic. The stats: "processed N insns (limit L)" and "stack depth A+B+C".
std::string VerifierFailureReason(std::string_view log);
VerifierStats ParseVerifierStats(std::string_view log);

}  // namespace zerotrace
