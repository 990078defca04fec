#include "probes/process_filter.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "filter.h"

namespace zerotrace {

Result<ProcessFilter> ProcessFilter::Create(const ProcessSelection& selection) {
  ProcessFilter f;
  f.enabled_ = !selection.empty();
  f.by_comm_ = !selection.comms.empty();
  f.tgids_fd_ = bpf_map_create(BPF_MAP_TYPE_HASH, "traced_tgids", sizeof(__u32), sizeof(__u8),
                               ZT_MAX_TRACED_TGIDS, nullptr);
  if (f.tgids_fd_ < 0) {
    return Error{std::string("cannot create the process selection map: ") + std::strerror(errno)};
  }
  f.comms_fd_ = bpf_map_create(BPF_MAP_TYPE_HASH, "traced_comms", sizeof(zt_comm), sizeof(__u8),
                               ZT_MAX_TRACED_COMMS, nullptr);
  if (f.comms_fd_ < 0) {
    return Error{std::string("cannot create the comm selection map: ") + std::strerror(errno)};
  }
  for (uint32_t pid : selection.pids) {
    if (auto s = f.AddPid(pid); !s) return Error{s.message()};
    f.explicit_pids_.push_back(pid);
  }
  if (selection.comms.size() > ZT_MAX_TRACED_COMMS) {
    return Error{"at most " + std::to_string(ZT_MAX_TRACED_COMMS) + " --comm values are supported"};
  }
  for (const auto& comm : selection.comms) {
    zt_comm key{};
    std::strncpy(key.name, comm.c_str(), sizeof(key.name) - 1);
    __u8 one = 1;
    if (bpf_map_update_elem(f.comms_fd_, &key, &one, BPF_ANY) != 0) {
      return Error{"cannot add comm '" + comm + "' to the selection: " + std::strerror(errno)};
    }
  }
  return f;
}

ProcessFilter::ProcessFilter(ProcessFilter&& o) noexcept
    : tgids_fd_(std::exchange(o.tgids_fd_, -1)),
      comms_fd_(std::exchange(o.comms_fd_, -1)),
      enabled_(o.enabled_),
      by_comm_(o.by_comm_),
      explicit_pids_(std::move(o.explicit_pids_)) {}

ProcessFilter::~ProcessFilter() {
  if (tgids_fd_ >= 0) close(tgids_fd_);
  if (comms_fd_ >= 0) close(comms_fd_);
}

Status ProcessFilter::AddPid(uint32_t pid) {
  __u8 one = 1;
  if (bpf_map_update_elem(tgids_fd_, &pid, &one, BPF_ANY) != 0) {
    return Error{"cannot select pid " + std::to_string(pid) + ": " + std::strerror(errno)};
  }
  return Status::Ok();
}

std::vector<uint32_t> ProcessFilter::TracedPids() const {
  std::vector<uint32_t> pids;
  __u32 key = 0, next;
  __u32* prev = nullptr;
  while (bpf_map_get_next_key(tgids_fd_, prev, &next) == 0) {
    pids.push_back(next);
    key = next;
    prev = &key;
  }
  return pids;
}

void ProcessFilter::Sweep(const std::string& proc_root) {
  for (uint32_t pid : TracedPids()) {
    if (std::find(explicit_pids_.begin(), explicit_pids_.end(), pid) != explicit_pids_.end()) {
      continue;  // an explicitly selected pid stays selected, dead or alive
    }
    if (access((proc_root + "/" + std::to_string(pid)).c_str(), F_OK) != 0) {
      bpf_map_delete_elem(tgids_fd_, &pid);
    }
  }
}

}  // namespace zerotrace
