#include "probes/library_attachments.h"

#include <bpf/libbpf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>
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
  std::map<Key, std::string> want;
  // Explicit files: attached for all processes, or (per process) in each process mapping them.
  std::map<LibraryKey, std::string> explicit_files;
  for (const auto& path : options_.explicit_paths) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      return Error{options_.probe + ": " + path + ": " + std::strerror(errno)};
    }
    explicit_files[{st.st_dev, st.st_ino}] = path;
    if (!options_.per_process) want.emplace(Key{st.st_dev, st.st_ino, -1}, path);
  }
  // With a pid selection only the selected processes are scanned, so libraries only other
  // processes use get no uprobes (each hit costs a trap even when the filter then drops it).
  std::vector<uint32_t> pids;
  if (filter_.enabled() && !filter_.by_comm()) {
    pids = filter_.TracedPids();
    if (pids.empty()) pids.push_back(0);  // nothing selected yet: scan nothing
  }
  // One attachment for all processes, or one per process mapping the file.
  auto want_file = [&](const LibraryKey& key, const std::set<uint32_t>& mapping,
                       const std::string& path) {
    if (!options_.per_process) {
      want.emplace(Key{key.first, key.second, -1}, path);
      return;
    }
    for (uint32_t pid : mapping)
      want.emplace(Key{key.first, key.second, static_cast<int>(pid)}, path);
  };
  std::set<uint32_t> pids_mapping;
  if (options_.scan_processes) {
    for (auto& [key, lib] : ScanMappedLibraries(options_.proc_root, pids, options_.match)) {
      pids_mapping.insert(lib.pids.begin(), lib.pids.end());
      want_file(key, lib.pids, lib.path);
    }
  }
  if (options_.per_process && !explicit_files.empty()) {
    const auto mapped =
        ScanMappedLibraries(options_.proc_root, pids, [](const std::string&) { return true; });
    for (const auto& [key, file] : explicit_files) {
      // No process maps it yet: attached at a later scan.
      if (auto it = mapped.find(key); it != mapped.end()) want_file(key, it->second.pids, file);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  mapping_pids_ = std::move(pids_mapping);
  const std::string errors = ReconcileLibraries(
      libs_, failed_, want,
      [this](const Key& key, const std::string& path, Attached* a) {
        a->path = path;
        Status s = attach_(path, key.pid, &a->links);
        if (!s.ok()) Detach(*a);
        return s;
      },
      [](Attached& a) { Detach(a); });
  if (!errors.empty()) return Error{errors};
  return Status::Ok();
}

std::vector<std::string> LibraryAttachments::paths() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;  // a file attached in several processes is one file
  for (const auto& [key, a] : libs_) out.insert(a.path);
  return {out.begin(), out.end()};
}

std::set<uint32_t> LibraryAttachments::mapping_pids() const {
  std::lock_guard<std::mutex> lock(mu_);
  return mapping_pids_;
}

}  // namespace zerotrace::gpu
