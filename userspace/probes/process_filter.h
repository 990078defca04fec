#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace zerotrace {

// The process selection shared by every probe. It owns the two selection maps; each probe's
// skeleton reuses their fds before load, so one update here applies to all probes at once.
class ProcessFilter {
 public:
  static Result<ProcessFilter> Create(const ProcessSelection& selection);
  ProcessFilter(ProcessFilter&& other) noexcept;
  ProcessFilter& operator=(ProcessFilter&&) = delete;
  ProcessFilter(const ProcessFilter&) = delete;
  ~ProcessFilter();

  bool enabled() const { return enabled_; }
  bool by_comm() const { return by_comm_; }

  // Points a skeleton's `traced_tgids`/`traced_comms` maps at ours and sets its rodata switches.
  // Call between open and load.
  template <typename Skel>
  Status ApplyTo(Skel* skel) {
    skel->rodata->filter_enabled = enabled_;
    skel->rodata->filter_by_comm = by_comm_;
    if (bpf_map__reuse_fd(skel->maps.traced_tgids, tgids_fd_) ||
        bpf_map__reuse_fd(skel->maps.traced_comms, comms_fd_)) {
      return Error{"cannot share the process selection maps with a probe"};
    }
    return Status::Ok();
  }

  Status AddPid(uint32_t pid);
  // Drops tgids of processes that exited, so comm-selected processes do not fill the map.
  void Sweep(const std::string& proc_root);
  std::vector<uint32_t> TracedPids() const;

 private:
  ProcessFilter() = default;
  int tgids_fd_ = -1;
  int comms_fd_ = -1;
  bool enabled_ = false;
  bool by_comm_ = false;
  std::vector<uint32_t> explicit_pids_;
};

}  // namespace zerotrace
