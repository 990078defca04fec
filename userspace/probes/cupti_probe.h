#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/cupti.h"
#include "core/features.h"
#include "probes/library_attachments.h"
#include "probes/probe.h"
#include "probes/process_filter.h"

struct cupti_bpf;
struct ring_buffer;
struct bpf_link;

namespace zerotrace::gpu {

struct CuptiProbeOptions {
  std::string proc_root = "/proc";
  // Binaries carrying the zerotrace USDT probes, attached in addition to the libzerotrace_cupti
  // libraries the /proc scan finds (tests: cupti_synthetic, which links the publish code in).
  std::vector<std::string> binary_paths;
  bool scan_processes = true;
};

// Loader for bpf/cupti.bpf.c: the USDT probes (provider "zerotrace") of the CUPTI injector,
// attached to every libzerotrace_cupti.so a selected process maps, once per library file for all
// processes (pid -1; the kernel-side filter drops the unselected). Attaching increments the
// probes' semaphores, which is what makes the injector start collecting.
class CuptiProbe : public Probe {
 public:
  using Handler = std::function<void(const void* event, size_t size)>;

  CuptiProbe(Features& features, ProcessFilter& filter, CuptiProbeOptions options, Handler handler);
  ~CuptiProbe() override;
  CuptiProbe(const CuptiProbe&) = delete;
  CuptiProbe& operator=(const CuptiProbe&) = delete;

  const char* name() const override { return "cupti"; }
  // Kernel-side drops plus the records injectors reported dropped (CUPTI buffers full) or
  // skipped (rate cap) through zerotrace:dropped.
  Status Attach() override;
  std::string attach_mode() const override { return libs_ ? "usdt" : "unavailable"; }
  bpf_object* object() const override;
  uint64_t events_lost() const override;
  size_t uprobe_targets() const override { return libraries().size(); }

  Status Rescan();
  int Poll(int timeout_ms);
  int epoll_fd() const;

  // The launching thread's record for a kernel's correlation id (removed from the map).
  std::optional<cupti_launch_info> TakeLaunch(uint32_t tgid, uint32_t correlation_id);
  // User stack `stack_id` of `cupti_stacks`, leaf first, zeros dropped; empty when gone.
  std::vector<uint64_t> ReadStack(int32_t stack_id) const;

  std::vector<std::string> libraries() const;
  // Processes that mapped an injector at the last scan (their GPU-side numbers come from CUPTI).
  std::set<uint32_t> injected_pids() const;
  uint64_t events_seen() const { return events_seen_; }
  // Stack ids are never reused while their entry exists, so a long run fills the stack map and
  // later stacks are lost. Empties it (and, for cupti, `launch_stacks`) once more than
  // `fraction` of it is in use; the caller must forget what it cached by stack id. Returns true
  // when it emptied it.
  bool ClearStacksIfFull(double fraction = 0.75);

 private:
  static int OnEvent(void* ctx, void* data, size_t size);
  Status AttachBinary(const std::string& path, int pid, std::vector<bpf_link*>* links);

  Features& features_;
  ProcessFilter& filter_;
  CuptiProbeOptions options_;
  Handler handler_;
  cupti_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  std::unique_ptr<LibraryAttachments> libs_;  // set once loaded
  std::atomic<uint64_t> events_seen_{0};
  std::atomic<uint64_t> injector_dropped_{0};
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> dropped_totals_;  // tgid -> last cumulative
};

}  // namespace zerotrace::gpu
