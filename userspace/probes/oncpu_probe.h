#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/features.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "probes/stack_source.h"
#include "unwind/unwind_tables.h"

struct oncpu_bpf;
struct bpf_link;

namespace zerotrace {

struct OnCpuOptions {
  uint32_t frequency_hz = 49;  // samples per second per CPU; 19..999 (49/99: off the kernel's HZ)
  bool per_thread = false;     // key by thread id too (more entries, per-thread flamegraphs)
  uint32_t stack_entries = 16384;  // distinct stacks the kernel stack map holds
  uint32_t count_entries = 16384;  // distinct (tgid, [tid], kstack, ustack) between two reads
  // Walk user stacks with the CFI of each mapped file (.eh_frame), so code built without frame
  // pointers unwinds; false: frame pointers only (bpf_get_stackid).
  bool cfi_unwind = true;
  uint32_t unwind_rows = 1u << 20;  // CFI rows the kernel holds for all files (12 bytes each)
};

inline constexpr uint32_t kMinOnCpuHz = 19;
inline constexpr uint32_t kMaxOnCpuHz = 999;
Status ValidateOnCpuOptions(const OnCpuOptions& options);

// Loader for bpf/oncpu.bpf.c: a software cpu-clock perf event per online CPU runs the sampling
// program, which counts (tgid, [tid], kernel stack id, user stack id) in the kernel.
class OnCpuProbe : public Probe, public StackSource {
 public:
  OnCpuProbe(Features& features, ProcessFilter& filter, OnCpuOptions options = {});
  ~OnCpuProbe() override;
  OnCpuProbe(const OnCpuProbe&) = delete;
  OnCpuProbe& operator=(const OnCpuProbe&) = delete;

  // Probe
  const char* name() const override { return "oncpu"; }
  Status Attach() override;
  std::string attach_mode() const override { return attached_ ? "perf_event" : "unavailable"; }
  bpf_object* object() const override;
  uint64_t events_lost() const override { return kernel_drops(); }

  // StackSource
  profile::ProfileType profile_type() const override { return profile::ProfileType::kOnCpu; }
  uint64_t sample_period_ns() const override;
  Result<std::vector<RawStackCount>> Drain() override;
  bool ReadStack(int32_t id, std::vector<uint64_t>* leaf_first) override;
  void ClearStacks() override;
  void DeleteStack(int32_t id) override;
  bool delete_stacks_after_read() const override { return true; }
  uint32_t stack_capacity() const override { return options_.stack_entries; }
  uint32_t max_stack_depth() const override;
  uint64_t kernel_drops() const override;
  uint64_t kernel_stack_drops() const override;

  size_t attached_cpus() const { return links_.size(); }
  // The CFI tables (nullptr when CFI unwinding is off or not attached).
  const unwind::UnwindTables* unwind_tables() const { return unwind_.get(); }
  // Per-outcome walk counters of the kernel (zt_unwind_stat order), cumulative.
  std::vector<uint64_t> unwind_walk_stats() const override;

 private:
  Features& features_;
  ProcessFilter& filter_;
  OnCpuOptions options_;
  oncpu_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  std::shared_ptr<unwind::UnwindTables> unwind_;
  bool attached_ = false;
};

}  // namespace zerotrace
