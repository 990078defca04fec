#include "probes/oncpu_probe.h"

#include <bpf/bpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "oncpu.h"
#include "oncpu.skel.h"
#include "probes/bpf_load.h"
#include "probes/bpf_util.h"
#include "probes/stack_counts.h"
#include "unwind/walked_stack.h"
#include "unwind/walker_setup.h"

namespace zerotrace {

Status ValidateOnCpuOptions(const OnCpuOptions& o) {
  if (o.frequency_hz < kMinOnCpuHz || o.frequency_hz > kMaxOnCpuHz) {
    return Error{"on-CPU sampling frequency must be " + std::to_string(kMinOnCpuHz) + ".." +
                 std::to_string(kMaxOnCpuHz) + " Hz, got " + std::to_string(o.frequency_hz)};
  }
  if (o.stack_entries == 0 || o.count_entries == 0 || o.unwind_rows == 0) {
    return Error{"on-CPU map sizes must be positive"};
  }
  return Status::Ok();
}

OnCpuProbe::OnCpuProbe(Features& features, ProcessFilter& filter, OnCpuOptions options)
    : features_(features), filter_(filter), options_(options) {}

OnCpuProbe::~OnCpuProbe() {
  for (bpf_link* l : links_) bpf_link__destroy(l);  // also closes the perf event fds
  if (skel_) oncpu_bpf__destroy(skel_);
}

uint64_t OnCpuProbe::sample_period_ns() const { return 1000000000ULL / options_.frequency_hz; }

uint32_t OnCpuProbe::max_stack_depth() const { return ZT_STACK_DEPTH; }

Status OnCpuProbe::Attach() {
  if (auto s = ValidateOnCpuOptions(options_); !s) return s;
  if (!features_.Has(Feature::kPerfEvent)) {
    return Error{"oncpu: cannot open a cpu-clock perf event: " +
                 features_.Answer(Feature::kPerfEvent).detail};
  }
  skel_ = oncpu_bpf__open();
  if (!skel_) return Error{std::string("oncpu: cannot open BPF object: ") + std::strerror(errno)};
  skel_->rodata->per_thread = options_.per_thread;
  skel_->rodata->unwind_enabled = options_.cfi_unwind;
  skel_->rodata->unwind_have_task_pt_regs = unwind::HaveTaskPtRegs(BPF_PROG_TYPE_PERF_EVENT);
  bpf_map__set_max_entries(skel_->maps.unwind_stacks,
                           options_.cfi_unwind ? options_.stack_entries : 1);
  auto tables =
      unwind::ShareTables(options_.cfi_unwind, options_.unwind_rows, skel_->maps.unwind_rows,
                          skel_->maps.unwind_procs, skel_->maps.unwind_pending);
  if (!tables.ok()) return Error{"oncpu: " + tables.error().message};
  unwind_ = tables.value();
  // With CFI walking the stack map holds kernel stacks and the user stacks of processes not
  // described yet; walked user stacks go to unwind_stacks.
  bpf_map__set_max_entries(skel_->maps.stackmap, options_.cfi_unwind
                                                     ? std::max(1024u, options_.stack_entries / 4)
                                                     : options_.stack_entries);
  bpf_map__set_max_entries(skel_->maps.counts, options_.count_entries);
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  if (auto s = LoadBpfSkeleton(skel_->skeleton, "oncpu"); !s) return s;
  if (auto s = unwind::InstallWalker(skel_->maps.unwind_progs, skel_->progs.unwind_user, "oncpu");
      !s) {
    return s;
  }
  // Selected processes are described before the first sample; others when first sampled.
  if (unwind_ && filter_.enabled()) {
    for (uint32_t pid : filter_.TracedPids()) unwind_->Describe(pid);
  }
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return Error{"oncpu: cannot count CPUs"};
  for (int cpu = 0; cpu < ncpu; ++cpu) {
    perf_event_attr attr{};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.size = sizeof(attr);
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    // Fixed period, not frequency mode: every sample then stands for exactly one period of CPU.
    attr.sample_period = sample_period_ns();
    const int fd =
        static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // CPU offline
      return Error{"oncpu: perf_event_open on CPU " + std::to_string(cpu) + ": " +
                   std::strerror(errno)};
    }
    bpf_link* link = bpf_program__attach_perf_event(skel_->progs.do_sample, fd);
    if (!link) {
      const int err = errno;
      close(fd);
      return Error{"oncpu: attaching to CPU " + std::to_string(cpu) +
                   " failed: " + std::strerror(err)};
    }
    links_.push_back(link);
  }
  if (links_.empty()) return Error{"oncpu: no online CPU accepted a perf event"};
  attached_ = true;
  return Status::Ok();
}

bpf_object* OnCpuProbe::object() const { return skel_ ? skel_->obj : nullptr; }

Result<std::vector<RawStackCount>> OnCpuProbe::Drain() {
  if (!skel_) return Error{"oncpu: not attached"};
  if (unwind_) unwind_->Poll();
  return DrainStackCounts<oncpu_key, oncpu_value>(bpf_map__fd(skel_->maps.counts),
                                                  [](const oncpu_value& v) { return v.count; });
}

bool OnCpuProbe::ReadStack(int32_t id, std::vector<uint64_t>* leaf_first) {
  if (!skel_) return false;
  if (id >= 0 && (id & ZT_UNWIND_STACK_ID_BIT)) {
    return ReadWalkedStack(bpf_map__fd(skel_->maps.unwind_stacks), id, leaf_first);
  }
  return ReadStackTrace(bpf_map__fd(skel_->maps.stackmap), id, ZT_STACK_DEPTH, leaf_first);
}

void OnCpuProbe::ClearStacks() {
  if (!skel_) return;
  ClearStackTraceMap(bpf_map__fd(skel_->maps.stackmap));
  ClearStackTraceMap(bpf_map__fd(skel_->maps.unwind_stacks));
}

void OnCpuProbe::DeleteStack(int32_t id) {
  if (!skel_) return;
  const bool walked = id >= 0 && (id & ZT_UNWIND_STACK_ID_BIT);
  DeleteStackTrace(bpf_map__fd(walked ? skel_->maps.unwind_stacks : skel_->maps.stackmap), id);
}

std::vector<uint64_t> OnCpuProbe::unwind_walk_stats() const {
  return skel_ ? unwind::ReadWalkStats(skel_->maps.unwind_stats) : std::vector<uint64_t>{};
}

uint64_t OnCpuProbe::kernel_drops() const {
  // The reasons after the four stack ones; summed on their own (subtracting two reads taken at
  // different moments could go below zero while the kernel counts).
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), 4, ONCPU_DROP_MAX) : 0;
}

uint64_t OnCpuProbe::kernel_stack_drops() const {
  // The stack reasons are the first four: ONCPU_DROP_{K,U}STACK_{COLLISION,FAILED}.
  static_assert(ONCPU_DROP_USTACK_FAILED == 3);
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), 4) : 0;
}

}  // namespace zerotrace
