#include "probes/syscall_probe.h"

#include <bpf/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "probes/bpf_load.h"
#include "probes/bpf_util.h"
#include "syscalls.h"
#include "syscalls.skel.h"

namespace zerotrace {

SyscallAttachMode ChooseSyscallAttachMode(Features& features) {
  if (features.Has(Feature::kRawTracepoint)) return SyscallAttachMode::kRawTracepoint;
  if (features.Has(Feature::kTracepoint)) return SyscallAttachMode::kTracepoint;
  return SyscallAttachMode::kUnavailable;
}

const char* AttachModeName(SyscallAttachMode mode) {
  switch (mode) {
    case SyscallAttachMode::kRawTracepoint:
      return "raw_tracepoint";
    case SyscallAttachMode::kTracepoint:
      return "tracepoint";
    case SyscallAttachMode::kUnavailable:
      break;
  }
  return "unavailable";
}

SyscallProbe::SyscallProbe(Features& features, ProcessFilter& filter)
    : features_(features), filter_(filter) {}

SyscallProbe::~SyscallProbe() {
  if (skel_) syscalls_bpf__destroy(skel_);
}

Status SyscallProbe::Attach() {
  mode_ = ChooseSyscallAttachMode(features_);
  if (mode_ == SyscallAttachMode::kUnavailable) {
    return Error{"syscalls: this kernel supports neither raw tracepoints nor tracepoints"};
  }
  skel_ = syscalls_bpf__open();
  if (!skel_)
    return Error{std::string("syscalls: cannot open BPF object: ") + std::strerror(errno)};
  const bool raw = mode_ == SyscallAttachMode::kRawTracepoint;
  bpf_program__set_autoload(skel_->progs.raw_sys_enter, raw);
  bpf_program__set_autoload(skel_->progs.raw_sys_exit, raw);
  bpf_program__set_autoload(skel_->progs.tp_sys_enter, !raw);
  bpf_program__set_autoload(skel_->progs.tp_sys_exit, !raw);
  skel_->rodata->nr_exit = SYS_exit;
  skel_->rodata->nr_exit_group = SYS_exit_group;
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  if (auto s = LoadBpfSkeleton(skel_->skeleton, "syscalls"); !s) return s;
  if (int err = syscalls_bpf__attach(skel_); err) {
    return Error{std::string("syscalls: attaching failed: ") + std::strerror(-err)};
  }
  return Status::Ok();
}

bpf_object* SyscallProbe::object() const { return skel_ ? skel_->obj : nullptr; }

int SyscallProbe::stats_map_fd() const { return skel_ ? bpf_map__fd(skel_->maps.stats) : -1; }

uint64_t SyscallProbe::events_lost() const {
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), SYSCALL_DROP_MAX) : 0;
}

}  // namespace zerotrace
