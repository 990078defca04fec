#include "probes/offcpu_probe.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "offcpu.h"
#include "offcpu.skel.h"
#include "probes/bpf_load.h"
#include "probes/bpf_util.h"
#include "probes/stack_counts.h"
#include "unwind/walked_stack.h"
#include "unwind/walker_setup.h"

namespace zerotrace {

Status ValidateOffCpuOptions(const OffCpuOptions& o) {
  if (o.min_block.count() < 0 || o.max_block.count() < 0) {
    return Error{"off-CPU block thresholds must not be negative"};
  }
  if (o.max_block.count() != 0 && o.max_block < o.min_block) {
    return Error{"off-CPU max block must be at least the min block"};
  }
  if (!(o.sample_ratio > 0 && o.sample_ratio <= 1)) {  // NaN fails too
    return Error{"off-CPU sample ratio must be greater than 0 and at most 1"};
  }
  if (o.stack_entries == 0 || o.count_entries == 0 || o.start_entries == 0) {
    return Error{"off-CPU map sizes must be positive"};
  }
  return Status::Ok();
}

uint32_t SampleOneIn(double ratio) {
  if (!(ratio > 0 && ratio < 1)) return 1;
  return static_cast<uint32_t>(std::clamp(std::llround(1.0 / ratio), 1ll, 1ll << 20));
}

Result<OffCpuStateFilter> ParseOffCpuStateFilter(const std::string& text) {
  if (text.empty() || text == "any" || text == "all") return OffCpuStateFilter::kAny;
  if (text == "interruptible" || text == "sleep" || text == "S") {
    return OffCpuStateFilter::kInterruptible;
  }
  if (text == "uninterruptible" || text == "disk" || text == "D") {
    return OffCpuStateFilter::kUninterruptible;
  }
  return Error{"unknown off-CPU task state '" + text +
               "' (expected any, interruptible or uninterruptible)"};
}

OffCpuAttachMode ChooseOffCpuAttachMode(Features& features) {
  if (features.Has(Feature::kTpBtf)) return OffCpuAttachMode::kTpBtf;
  if (features.Has(Feature::kRawTracepoint)) return OffCpuAttachMode::kRawTracepoint;
  return OffCpuAttachMode::kUnavailable;
}

const char* AttachModeName(OffCpuAttachMode mode) {
  switch (mode) {
    case OffCpuAttachMode::kTpBtf:
      return "tp_btf";
    case OffCpuAttachMode::kRawTracepoint:
      return "raw_tracepoint";
    case OffCpuAttachMode::kUnavailable:
      break;
  }
  return "unavailable";
}

OffCpuProbe::OffCpuProbe(Features& features, ProcessFilter& filter, OffCpuOptions options)
    : features_(features), filter_(filter), options_(options) {}

OffCpuProbe::~OffCpuProbe() {
  if (skel_) offcpu_bpf__destroy(skel_);
}

uint32_t OffCpuProbe::max_stack_depth() const { return ZT_OFFCPU_STACK_DEPTH; }

Status OffCpuProbe::Attach() {
  if (auto s = ValidateOffCpuOptions(options_); !s) return s;
  mode_ = ChooseOffCpuAttachMode(features_);
  if (mode_ == OffCpuAttachMode::kUnavailable) {
    return Error{"offcpu: this kernel supports neither tp_btf nor raw tracepoints"};
  }
  skel_ = offcpu_bpf__open();
  if (!skel_) return Error{std::string("offcpu: cannot open BPF object: ") + std::strerror(errno)};
  const bool btf = mode_ == OffCpuAttachMode::kTpBtf;
  bpf_program__set_autoload(skel_->progs.sched_switch_btf, btf);
  bpf_program__set_autoload(skel_->progs.sched_switch_raw, !btf);
  bpf_program__set_autoload(skel_->progs.unwind_walk_btf, btf);
  bpf_program__set_autoload(skel_->progs.unwind_walk_raw, !btf);
  bpf_program__set_autoattach(skel_->progs.unwind_walk_btf, false);
  bpf_program__set_autoattach(skel_->progs.unwind_walk_raw, false);
  skel_->rodata->unwind_enabled = options_.cfi_unwind;
  skel_->rodata->unwind_have_task_pt_regs =
      unwind::HaveTaskPtRegs(btf ? BPF_PROG_TYPE_TRACING : BPF_PROG_TYPE_RAW_TRACEPOINT);
  bpf_map__set_max_entries(skel_->maps.unwind_stacks,
                           options_.cfi_unwind ? options_.stack_entries : 1);
  auto tables =
      unwind::ShareTables(options_.cfi_unwind, options_.unwind_rows, skel_->maps.unwind_rows,
                          skel_->maps.unwind_procs, skel_->maps.unwind_pending);
  if (!tables.ok()) return Error{"offcpu: " + tables.error().message};
  unwind_ = tables.value();
  skel_->rodata->min_block_ns = static_cast<__u64>(options_.min_block.count());
  skel_->rodata->sample_one_in = SampleOneIn(options_.sample_ratio);
  skel_->rodata->max_block_ns =
      options_.max_block.count() == 0 ? ~__u64{0} : static_cast<__u64>(options_.max_block.count());
  switch (options_.state) {
    case OffCpuStateFilter::kAny:
      skel_->rodata->state_filter = OFFCPU_STATE_ANY;
      break;
    case OffCpuStateFilter::kInterruptible:
      skel_->rodata->state_filter = OFFCPU_STATE_INTERRUPTIBLE;
      break;
    case OffCpuStateFilter::kUninterruptible:
      skel_->rodata->state_filter = OFFCPU_STATE_UNINTERRUPTIBLE;
      break;
  }
  // With CFI walking the stack map holds kernel stacks and the user stacks of processes not
  // described yet; walked user stacks go to unwind_stacks (both preallocated: keep it small).
  bpf_map__set_max_entries(skel_->maps.stackmap, options_.cfi_unwind
                                                     ? std::max(1024u, options_.stack_entries / 4)
                                                     : options_.stack_entries);
  bpf_map__set_max_entries(skel_->maps.counts, options_.count_entries);
  bpf_map__set_max_entries(skel_->maps.start, options_.start_entries);
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  if (auto s = LoadBpfSkeleton(skel_->skeleton, "offcpu"); !s) return s;
  if (auto s = unwind::InstallWalker(
          skel_->maps.unwind_progs,
          btf ? skel_->progs.unwind_walk_btf : skel_->progs.unwind_walk_raw, "offcpu");
      !s) {
    return s;
  }
  if (unwind_ && filter_.enabled()) {
    for (uint32_t pid : filter_.TracedPids()) unwind_->Describe(pid);
  }
  if (int err = offcpu_bpf__attach(skel_); err) {
    return Error{std::string("offcpu: attaching to sched_switch failed: ") + std::strerror(-err)};
  }
  return Status::Ok();
}

bpf_object* OffCpuProbe::object() const { return skel_ ? skel_->obj : nullptr; }

Result<std::vector<RawStackCount>> OffCpuProbe::Drain() {
  if (!skel_) return Error{"offcpu: not attached"};
  if (unwind_) unwind_->Poll();
  return DrainStackCounts<offcpu_key, offcpu_value>(
      bpf_map__fd(skel_->maps.counts), [](const offcpu_value& v) { return v.total_ns; });
}

bool OffCpuProbe::ReadStack(int32_t id, std::vector<uint64_t>* leaf_first) {
  if (!skel_) return false;
  if (id >= 0 && (id & ZT_UNWIND_STACK_ID_BIT)) {
    return ReadWalkedStack(bpf_map__fd(skel_->maps.unwind_stacks), id, leaf_first);
  }
  return ReadStackTrace(bpf_map__fd(skel_->maps.stackmap), id, ZT_OFFCPU_STACK_DEPTH, leaf_first);
}

void OffCpuProbe::ClearStacks() {
  if (!skel_) return;
  ClearStackTraceMap(bpf_map__fd(skel_->maps.stackmap));
  ClearStackTraceMap(bpf_map__fd(skel_->maps.unwind_stacks));
}

void OffCpuProbe::DeleteStack(int32_t id) {
  if (!skel_) return;
  const bool walked = id >= 0 && (id & ZT_UNWIND_STACK_ID_BIT);
  DeleteStackTrace(bpf_map__fd(walked ? skel_->maps.unwind_stacks : skel_->maps.stackmap), id);
}

std::vector<uint64_t> OffCpuProbe::unwind_walk_stats() const {
  return skel_ ? unwind::ReadWalkStats(skel_->maps.unwind_stats) : std::vector<uint64_t>{};
}

uint64_t OffCpuProbe::kernel_drops() const {
  // The reasons after the four stack ones; summed on their own (subtracting two reads taken at
  // different moments could go below zero while the kernel counts).
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), 4, OFFCPU_DROP_MAX) : 0;
}

uint64_t OffCpuProbe::kernel_stack_drops() const {
  // The stack reasons are the first four: OFFCPU_DROP_{K,U}STACK_{COLLISION,FAILED}.
  static_assert(OFFCPU_DROP_USTACK_FAILED == 3);
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), 4) : 0;
}

}  // namespace zerotrace
