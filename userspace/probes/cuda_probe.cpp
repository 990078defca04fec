#include "probes/cuda_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "bpf/cuda.h"
#include "cuda.skel.h"
#include "probes/bpf_load.h"
#include "probes/bpf_util.h"
#include "probes/library_scan.h"
#include "probes/uprobe_target_file.h"
#include "unwind/walked_stack.h"
#include "unwind/walker_setup.h"

namespace zerotrace::gpu {
namespace {

struct UprobeSpec {
  const char* program;
  const char* symbol;
  bool retprobe;
  bool required;  // a driver without it is not a CUDA driver (or a very old one)
};

// Every program in cuda.bpf.c and the symbols it goes on. Optional entries are newer or
// per-thread-default-stream variants a driver may lack.
constexpr UprobeSpec kUprobes[] = {
    {"cuLaunchKernel", "cuLaunchKernel", false, true},
    {"cuLaunchKernel", "cuLaunchKernel_ptsz", false, false},
    {"cuLaunchKernelEx", "cuLaunchKernelEx", false, false},
    {"cuLaunchKernelEx", "cuLaunchKernelEx_ptsz", false, false},
    {"cuModuleGetFunction", "cuModuleGetFunction", false, false},
    {"cuModuleGetFunction_ret", "cuModuleGetFunction", true, false},
    {"cuLibraryGetKernel", "cuLibraryGetKernel", false, false},
    {"cuLibraryGetKernel_ret", "cuLibraryGetKernel", true, false},
    {"cuKernelGetFunction", "cuKernelGetFunction", false, false},
    {"cuKernelGetFunction_ret", "cuKernelGetFunction", true, false},
    {"cuMemAlloc_v2", "cuMemAlloc_v2", false, false},
    {"cuMemAlloc_v2_ret", "cuMemAlloc_v2", true, false},
    {"cuMemAllocAsync", "cuMemAllocAsync", false, false},
    {"cuMemAllocAsync_ret", "cuMemAllocAsync", true, false},
    {"cuMemFree_v2", "cuMemFree_v2", false, false},
    {"cuMemFree_v2_ret", "cuMemFree_v2", true, false},
    {"cuMemFreeAsync", "cuMemFreeAsync", false, false},
    {"cuMemFreeAsync_ret", "cuMemFreeAsync", true, false},
    {"cuMemcpyHtoD_v2", "cuMemcpyHtoD_v2", false, false},
    {"cuMemcpyHtoD_v2_ret", "cuMemcpyHtoD_v2", true, false},
    {"cuMemcpyDtoH_v2", "cuMemcpyDtoH_v2", false, false},
    {"cuMemcpyDtoH_v2_ret", "cuMemcpyDtoH_v2", true, false},
    {"cuMemcpyDtoD_v2", "cuMemcpyDtoD_v2", false, false},
    {"cuMemcpyDtoD_v2_ret", "cuMemcpyDtoD_v2", true, false},
    {"cuMemcpyAsync", "cuMemcpyAsync", false, false},
    {"cuMemcpyAsync_ret", "cuMemcpyAsync", true, false},
    {"cuMemcpyHtoDAsync_v2", "cuMemcpyHtoDAsync_v2", false, false},
    {"cuMemcpyHtoDAsync_v2_ret", "cuMemcpyHtoDAsync_v2", true, false},
    {"cuMemcpyDtoHAsync_v2", "cuMemcpyDtoHAsync_v2", false, false},
    {"cuMemcpyDtoHAsync_v2_ret", "cuMemcpyDtoHAsync_v2", true, false},
    {"cuCtxSynchronize", "cuCtxSynchronize", false, false},
    {"cuCtxSynchronize_ret", "cuCtxSynchronize", true, false},
    {"cuStreamSynchronize", "cuStreamSynchronize", false, false},
    {"cuStreamSynchronize_ret", "cuStreamSynchronize", true, false},
    {"cuEventSynchronize", "cuEventSynchronize", false, false},
    {"cuEventSynchronize_ret", "cuEventSynchronize", true, false},
};

}  // namespace

CudaProbe::CudaProbe(Features& features, ProcessFilter& filter, CudaProbeOptions options,
                     Handler handler)
    : features_(features),
      filter_(filter),
      options_(std::move(options)),
      handler_(std::move(handler)) {}

CudaProbe::~CudaProbe() {
  if (rb_) ring_buffer__free(rb_);
  libs_.reset();
  if (skel_) cuda_bpf__destroy(skel_);
}

Status CudaProbe::Attach() {
  if (!features_.Has(Feature::kUprobe)) {
    return Error{"cuda: uprobes are unavailable (" + features_.Answer(Feature::kUprobe).detail +
                 ")"};
  }
  if (!features_.Has(Feature::kRingBuffer)) {
    return Error{"cuda: BPF ring buffers are unavailable: " +
                 features_.Answer(Feature::kRingBuffer).detail};
  }
  skel_ = cuda_bpf__open();
  if (!skel_) return Error{std::string("cuda: cannot open BPF object: ") + std::strerror(errno)};
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  skel_->rodata->unwind_enabled = options_.cfi_unwind;
  skel_->rodata->unwind_have_task_pt_regs = unwind::HaveTaskPtRegs(BPF_PROG_TYPE_KPROBE);
  // Walked launch stacks: as many as the frame-pointer store holds.
  bpf_map__set_max_entries(skel_->maps.unwind_stacks,
                           options_.cfi_unwind ? ZT_CUDA_STACK_ENTRIES : 1);
  auto tables =
      unwind::ShareTables(options_.cfi_unwind, options_.unwind_rows, skel_->maps.unwind_rows,
                          skel_->maps.unwind_procs, skel_->maps.unwind_pending);
  if (!tables.ok()) return Error{"cuda: " + tables.error().message};
  unwind_ = tables.value();
  if (auto s = LoadBpfSkeleton(skel_->skeleton, "cuda"); !s) return s;
  if (auto s = unwind::InstallWalker(skel_->maps.unwind_progs, skel_->progs.cuda_unwind, "cuda");
      !s) {
    return s;
  }
  if (unwind_ && filter_.enabled()) {
    for (uint32_t pid : filter_.TracedPids()) unwind_->Describe(pid);
  }
  rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.cuda_events), OnEvent, this, nullptr);
  if (!rb_) return Error{std::string("cuda: ring buffer setup failed: ") + std::strerror(errno)};
  libs_ = std::make_unique<LibraryAttachments>(
      LibraryAttachmentsOptions{"cuda", options_.proc_root, options_.library_paths,
                                options_.scan_processes, IsLibcudaPath},
      filter_, [this](const std::string& path, int pid, std::vector<bpf_link*>* links) {
        return AttachLibrary(path, pid, links);
      });
  return Rescan();
}

Status CudaProbe::AttachLibrary(const std::string& path, int pid, std::vector<bpf_link*>* links) {
  std::string missing;
  // Optional symbols a driver lacks are skipped here rather than left to fail in libbpf (which
  // logs a warning for each).
  const std::set<std::string> defined = DefinedFunctions(path);
  // Attached through a descriptor of the file checked inside the process's root.
  const std::optional<UprobeTargetFile> target = UprobeTargetFile::Open(path);
  if (!target) return Error{"cuda: " + path + " cannot be opened safely"};
  for (const auto& spec : kUprobes) {
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, spec.program);
    if (!prog) continue;
    if (!defined.empty() && !defined.count(spec.symbol)) {
      if (spec.required) missing += std::string(missing.empty() ? "" : ", ") + spec.symbol;
      continue;
    }
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = spec.retprobe, .func_name = spec.symbol);
    bpf_link* link =
        bpf_program__attach_uprobe_opts(prog, pid, target->attach_path().c_str(), 0, &opts);
    if (!link) {
      if (spec.required) missing += std::string(missing.empty() ? "" : ", ") + spec.symbol;
      continue;
    }
    links->push_back(link);
  }
  if (!missing.empty()) {
    return Error{"cuda: " + path + " has no " + missing + " (not a CUDA driver?)"};
  }
  return Status::Ok();
}

Status CudaProbe::Rescan() {
  if (!libs_) return Error{"cuda: not attached"};
  return libs_->Rescan();
}

int CudaProbe::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<CudaProbe*>(ctx);
  if (size < sizeof(cuda_event_header)) return 0;
  ++self->events_seen_;
  self->handler_(data, size);
  return 0;
}

int CudaProbe::Poll(int timeout_ms) {
  // Processes the walker asked about are described at most twice a second.
  const auto now = std::chrono::steady_clock::now();
  if (unwind_ && now - unwind_polled_ >= std::chrono::milliseconds(500)) {
    unwind_polled_ = now;
    unwind_->Poll();
  }
  return rb_ ? ring_buffer__poll(rb_, timeout_ms) : 0;
}

int CudaProbe::epoll_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }

std::vector<uint64_t> CudaProbe::ReadStack(int32_t stack_id) const {
  std::vector<uint64_t> ips;
  if (!skel_) return ips;
  if (stack_id >= 0 && (stack_id & ZT_UNWIND_STACK_ID_BIT)) {
    ReadWalkedStack(bpf_map__fd(skel_->maps.unwind_stacks), stack_id, &ips);
  } else {
    ReadStackTrace(bpf_map__fd(skel_->maps.cuda_stacks), stack_id, ZT_CUDA_STACK_DEPTH, &ips);
  }
  return ips;
}

bool CudaProbe::ClearStacksIfFull(double fraction) {
  if (!skel_) return false;
  // Both stores of launch stacks: the frame-pointer one and the walker's.
  const bool fp = ClearStackTraceMapIfFull(bpf_map__fd(skel_->maps.cuda_stacks),
                                           ZT_CUDA_STACK_ENTRIES, fraction);
  const bool walked =
      ClearStackTraceMapIfFull(bpf_map__fd(skel_->maps.unwind_stacks),
                               bpf_map__max_entries(skel_->maps.unwind_stacks), fraction);
  return fp || walked;
}

std::vector<std::string> CudaProbe::libraries() const {
  return libs_ ? libs_->paths() : std::vector<std::string>{};
}

bpf_object* CudaProbe::object() const { return skel_ ? skel_->obj : nullptr; }

uint64_t CudaProbe::events_lost() const {
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.cuda_drops), CUDA_DROP_MAX) : 0;
}

}  // namespace zerotrace::gpu
