#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "probes/library_scan.h"
#include "probes/process_filter.h"

struct bpf_link;

namespace zerotrace::gpu {

struct LibraryAttachmentsOptions {
  std::string probe;  // prefixes error messages ("cuda", "cupti")
  std::string proc_root = "/proc";
  // Attached in addition to what the /proc scan finds (tests point these at fakes).
  std::vector<std::string> explicit_paths;
  // Scan PROC_ROOT/*/maps for libraries `match` accepts at every Rescan().
  bool scan_processes = true;
  LibraryMatcher match;
  // One attachment per (file, process) instead of one per file for all processes: libbpf
  // attaches USDT probes in a shared object (PIE executables included) for every process only
  // with BPF cookies (Linux 5.15+).
  bool per_process = false;
};

// The links a probe holds on shared libraries, one set per distinct library file (device,
// inode) for all processes that map it (pid -1; the kernel-side process filter drops the
// unselected), kept in line with what selected processes map: Rescan() attaches new files and
// detaches those no process maps any more. A file that failed to attach is reported once, not
// retried at every rescan.
class LibraryAttachments {
 public:
  // Attaches the probe's programs to the file at `path`, appending each link to `links`. On
  // failure the links already appended are destroyed by the caller of AttachFn.
  // `pid`: -1 for every process, else that process only (options.per_process).
  using AttachFn =
      std::function<Status(const std::string& path, int pid, std::vector<bpf_link*>* links)>;

  LibraryAttachments(LibraryAttachmentsOptions options, ProcessFilter& filter, AttachFn attach);
  ~LibraryAttachments();  // destroys every link: must run before the BPF object is closed
  LibraryAttachments(const LibraryAttachments&) = delete;
  LibraryAttachments& operator=(const LibraryAttachments&) = delete;

  // Fails when an explicit path is missing or a library could not be attached at all (the
  // message names each); the others stay attached.
  Status Rescan();
  // Paths of the library files attached now.
  std::vector<std::string> paths() const;
  // Processes that mapped a matching library at the last scan.
  std::set<uint32_t> mapping_pids() const;

 private:
  struct Attached {
    std::string path;
    std::vector<bpf_link*> links;
  };
  // A file (device, inode) and the process it is attached in (-1: all).
  struct Key {
    dev_t device = 0;
    ino_t inode = 0;
    int pid = -1;
    auto operator<=>(const Key&) const = default;
  };
  static void Detach(Attached& a);

  LibraryAttachmentsOptions options_;
  ProcessFilter& filter_;
  AttachFn attach_;
  mutable std::mutex mu_;  // guards everything below
  std::map<Key, Attached> libs_;
  std::set<Key> failed_;
  std::set<uint32_t> mapping_pids_;
};

}  // namespace zerotrace::gpu
