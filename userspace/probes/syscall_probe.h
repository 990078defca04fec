#pragma once

#include <memory>
#include <string>

#include "core/features.h"
#include "probes/probe.h"
#include "probes/process_filter.h"

struct syscalls_bpf;

namespace zerotrace {

enum class SyscallAttachMode { kRawTracepoint, kTracepoint, kUnavailable };

// raw_tp when the kernel has it (cheaper per syscall), classic tracepoints otherwise.
SyscallAttachMode ChooseSyscallAttachMode(Features& features);
const char* AttachModeName(SyscallAttachMode mode);

// Loader for bpf/syscalls.bpf.c: per-(tgid, syscall) counts, errors and latency histograms.
class SyscallProbe : public Probe {
 public:
  SyscallProbe(Features& features, ProcessFilter& filter);
  ~SyscallProbe() override;

  const char* name() const override { return "syscalls"; }
  Status Attach() override;
  std::string attach_mode() const override { return AttachModeName(mode_); }
  bpf_object* object() const override;
  uint64_t events_lost() const override;

  int stats_map_fd() const;

 private:
  Features& features_;
  ProcessFilter& filter_;
  SyscallAttachMode mode_ = SyscallAttachMode::kUnavailable;
  syscalls_bpf* skel_ = nullptr;
};

}  // namespace zerotrace
