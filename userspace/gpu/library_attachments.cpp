#include "gpu/library_attachments.h"

#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace zerotrace::gpu {

LibraryAttachments::LibraryAttachments(LibraryAttachmentsOptions options, ProcessFilter& filter,
                                       AttachFn attach)
    : options_(std::move(options)), filter_(filter), attach_(std::move(attach)) {}

LibraryAttachments::~LibraryAttachments() {
  for (auto& [key, a] : libs_) Detach(a);
}

void LibraryAttachments::Detach(Attached& a) {
  for (bpf_link* l : a.links) bpf_link__destroy(l);
  a.links.clear();
}

Status LibraryAttachments::Rescan() {
  std::map<LibraryKey, std::string> want;
  for (const auto& path : options_.explicit_paths) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      return Error{options_.probe + ": " + path + ": " + std::strerror(errno)};
    }
    want[{st.st_dev, st.st_ino}] = path;
  }
  std::set<uint32_t> pids_mapping;
  if (options_.scan_processes) {
    // With a pid selection only the selected processes are scanned, so libraries only other
    // processes use get no uprobes (each hit costs a trap even when the filter then drops it).
    std::vector<uint32_t> pids;
    if (filter_.enabled() && !filter_.by_comm()) {
      pids = filter_.TracedPids();
      if (pids.empty()) pids.push_back(0);  // nothing selected yet: scan nothing
    }
    for (auto& [key, lib] : ScanMappedLibraries(options_.proc_root, pids, options_.match)) {
      want.emplace(key, lib.path);
      pids_mapping.insert(lib.pids.begin(), lib.pids.end());
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  mapping_pids_ = std::move(pids_mapping);
  const std::string errors = ReconcileLibraries(
      libs_, failed_, want,
      [this](const std::string& path, Attached* a) {
        a->path = path;
        Status s = attach_(path, &a->links);
        if (!s.ok()) Detach(*a);
        return s;
      },
      [](Attached& a) { Detach(a); });
  if (!errors.empty()) return Error{errors};
  return Status::Ok();
}

std::vector<std::string> LibraryAttachments::paths() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [key, a] : libs_) out.push_back(a.path);
  return out;
}

std::set<uint32_t> LibraryAttachments::mapping_pids() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mapping_pids_;
}

}  // namespace zerotrace::gpu
