#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace zerotrace::gpu {

// One shared object mapped by one or more processes. `path` is how this process (the daemon)
// opens it: PROC_ROOT/PID/root/<path in the process's mount namespace>, so libraries inside
// containers resolve. Distinct files are told apart by (device, inode).
struct MappedLibrary {
  std::string path;
  std::string mapped_path;  // as /proc/PID/maps shows it
  dev_t device = 0;
  ino_t inode = 0;
  std::set<uint32_t> pids;
};

// True when `path` (a /proc/PID/maps path) is the library we look for.
using LibraryMatcher = std::function<bool(const std::string& path)>;

// Scans PROC_ROOT/PID/maps of `pids` (empty = every process) for executable mappings `match`
// accepts. Unreadable processes (exited, permissions) are skipped. Keyed by (device, inode).
std::map<std::pair<dev_t, ino_t>, MappedLibrary> ScanMappedLibraries(
    const std::string& proc_root, const std::vector<uint32_t>& pids, const LibraryMatcher& match);

using LibraryKey = std::pair<dev_t, ino_t>;

// Brings `attached` in line with `want` (key -> path): detaches libraries no longer mapped,
// attaches new ones, and remembers failures in `failed` (bounded) so they are not retried every
// scan. `attach(key, path, Attached*)` returns a Status-like value with ok()/message(). Returns the
// attach errors joined with "; " (empty when none).
template <typename Key, typename Attached, typename AttachFn, typename DetachFn>
std::string ReconcileLibraries(std::map<Key, Attached>& attached, std::set<Key>& failed,
                               const std::map<Key, std::string>& want, AttachFn attach,
                               DetachFn detach) {
  std::string errors;
  for (auto it = attached.begin(); it != attached.end();) {
    if (want.count(it->first)) {
      ++it;
      continue;
    }
    detach(it->second);
    it = attached.erase(it);
  }
  for (const auto& [key, path] : want) {
    if (attached.count(key) || failed.count(key)) continue;
    Attached a;
    if (auto s = attach(key, path, &a); !s.ok()) {
      errors += (errors.empty() ? "" : "; ") + s.message();
      if (failed.size() < 4096) failed.insert(key);
      continue;
    }
    attached.emplace(key, std::move(a));
  }
  return errors;
}

// True when PROC_ROOT/PID/maps has an executable mapping `match` accepts.
bool ProcessMaps(const std::string& proc_root, uint32_t pid, const LibraryMatcher& match);

// Names of the functions an ELF file defines (.dynsym and .symtab); empty when unreadable.
std::set<std::string> DefinedFunctions(const std::string& path);

// Matchers for the two GPU libraries.
bool IsLibcudaPath(const std::string& path);        // ends in libcuda.so.1 or libcuda.so
bool IsCuptiInjectorPath(const std::string& path);  // contains libzerotrace_cupti

}  // namespace zerotrace::gpu
