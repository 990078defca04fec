#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/features.h"
#include "probes/library_attachments.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "unwind/unwind_tables.h"

struct cuda_bpf;
struct ring_buffer;
struct bpf_link;

namespace zerotrace::gpu {

struct CudaProbeOptions {
  std::string proc_root = "/proc";
  // Attached in addition to what the /proc scan finds (tests point this at the fake driver).
  std::vector<std::string> library_paths;
  // Scan /proc/*/maps for libcuda.so(.1) at Attach() and every Rescan().
  bool scan_processes = true;
  // Walk launch and allocation stacks with each file's CFI (see OnCpuOptions::cfi_unwind).
  bool cfi_unwind = true;
  uint32_t unwind_rows = 1u << 20;  // used if this probe creates the shared CFI tables
};

// Loader for bpf/cuda.bpf.c: uprobes/uretprobes on the CUDA driver API, attached by symbol name
// to every libcuda.so.1 a selected process maps. Each distinct library file is attached once for
// all processes (pid -1); the kernel-side process filter drops unselected callers. Rescan()
// picks up libraries mapped by processes started later and detaches those no process maps any
// more. Events (each starting with a cuda_event_header) go to `handler` from Poll().
class CudaProbe : public Probe {
 public:
  using Handler = std::function<void(const void* event, size_t size)>;

  CudaProbe(Features& features, ProcessFilter& filter, CudaProbeOptions options, Handler handler);
  ~CudaProbe() override;
  CudaProbe(const CudaProbe&) = delete;
  CudaProbe& operator=(const CudaProbe&) = delete;

  const char* name() const override { return "cuda"; }
  Status Attach() override;
  std::string attach_mode() const override { return libs_ ? "uprobe" : "unavailable"; }
  bpf_object* object() const override;
  uint64_t events_lost() const override;
  size_t uprobe_targets() const override { return libraries().size(); }

  // Attaches to newly mapped driver libraries, detaches unmapped ones (LibraryAttachments).
  Status Rescan();
  // Drains the ring buffer, waiting up to timeout_ms for the first event. Returns events handled.
  int Poll(int timeout_ms);
  int epoll_fd() const;
  // User stack `stack_id` of `cuda_stacks`, leaf first, zeros dropped; empty when gone.
  std::vector<uint64_t> ReadStack(int32_t stack_id) const;
  // Paths of the library files attached now.
  std::vector<std::string> libraries() const;
  uint64_t events_seen() const { return events_seen_; }
  // Stack ids are never reused while their entry exists, so a long run fills the stack map and
  // later stacks are lost. Empties it (and, for cupti, `launch_stacks`) once more than
  // `fraction` of it is in use; the caller must forget what it cached by stack id. Returns true
  // when it emptied it.
  bool ClearStacksIfFull(double fraction = 0.75);

 private:
  static int OnEvent(void* ctx, void* data, size_t size);
  Status AttachLibrary(const std::string& path, int pid, std::vector<bpf_link*>* links);

  Features& features_;
  ProcessFilter& filter_;
  CudaProbeOptions options_;
  Handler handler_;
  cuda_bpf* skel_ = nullptr;
  std::shared_ptr<unwind::UnwindTables> unwind_;
  std::chrono::steady_clock::time_point unwind_polled_{};
  ring_buffer* rb_ = nullptr;
  std::unique_ptr<LibraryAttachments> libs_;  // set once loaded
  std::atomic<uint64_t> events_seen_{0};
};

}  // namespace zerotrace::gpu
