#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/features.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "probes/stack_source.h"
#include "unwind/unwind_tables.h"

struct offcpu_bpf;

namespace zerotrace {

enum class OffCpuStateFilter {
  kAny,              // every switch-out, preemption included
  kInterruptible,    // TASK_INTERRUPTIBLE only: sleeps, waits on sockets, pipes, futexes
  kUninterruptible,  // TASK_UNINTERRUPTIBLE only: disk I/O, some kernel locks
};

struct OffCpuOptions {
  std::chrono::nanoseconds min_block{std::chrono::microseconds(1)};  // shorter blocks ignored
  std::chrono::nanoseconds max_block{0};  // 0 = no upper bound; longer blocks ignored
  OffCpuStateFilter state = OffCpuStateFilter::kAny;
  // Share of switch-outs whose stacks are recorded (0 < r <= 1), each weighed by 1/r: totals
  // become estimates, the cost drops with r. Used as 1 in round(1/r).
  double sample_ratio = 1.0;
  uint32_t stack_entries = 16384;
  uint32_t count_entries = 16384;
  uint32_t start_entries = 16384;  // threads switched out at the same time
  // Walk user stacks with the CFI of each mapped file (see OnCpuOptions::cfi_unwind).
  bool cfi_unwind = true;
  uint32_t unwind_rows = 1u << 20;  // used if this probe creates the shared CFI tables
};

Status ValidateOffCpuOptions(const OffCpuOptions& options);
// The kernel side's "one in N" for a sample ratio (1 for 1 and for invalid ratios).
uint32_t SampleOneIn(double ratio);
Result<OffCpuStateFilter> ParseOffCpuStateFilter(const std::string& text);  // any|sleep|disk...

enum class OffCpuAttachMode { kTpBtf, kRawTracepoint, kUnavailable };
// tp_btf when the kernel has it (no probe_read per field), raw_tp otherwise.
OffCpuAttachMode ChooseOffCpuAttachMode(Features& features);
const char* AttachModeName(OffCpuAttachMode mode);

// Loader for bpf/offcpu.bpf.c: time blocked per (tgid, tid, kernel stack, user stack).
class OffCpuProbe : public Probe, public StackSource {
 public:
  OffCpuProbe(Features& features, ProcessFilter& filter, OffCpuOptions options = {});
  ~OffCpuProbe() override;
  OffCpuProbe(const OffCpuProbe&) = delete;
  OffCpuProbe& operator=(const OffCpuProbe&) = delete;

  const char* name() const override { return "offcpu"; }
  Status Attach() override;
  std::string attach_mode() const override { return AttachModeName(mode_); }
  bpf_object* object() const override;
  uint64_t events_lost() const override { return kernel_drops(); }

  profile::ProfileType profile_type() const override { return profile::ProfileType::kOffCpu; }
  uint64_t sample_period_ns() const override { return 0; }
  Result<std::vector<RawStackCount>> Drain() override;
  bool ReadStack(int32_t id, std::vector<uint64_t>* leaf_first) override;
  void ClearStacks() override;
  void DeleteStack(int32_t id) override;
  uint32_t stack_capacity() const override { return options_.stack_entries; }
  uint32_t max_stack_depth() const override;
  uint64_t kernel_drops() const override;
  uint64_t kernel_stack_drops() const override;
  std::vector<uint64_t> unwind_walk_stats() const override;

 private:
  Features& features_;
  ProcessFilter& filter_;
  OffCpuOptions options_;
  OffCpuAttachMode mode_ = OffCpuAttachMode::kUnavailable;
  offcpu_bpf* skel_ = nullptr;
  std::shared_ptr<unwind::UnwindTables> unwind_;
};

}  // namespace zerotrace
