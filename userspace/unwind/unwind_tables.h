#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "python/interpreter.h"
#include "unwind/cfi_rows.h"
#include "symbolizer/proc_maps.h"
#include "unwind/row_allocator.h"

struct bpf_map;

namespace zerotrace::unwind {

struct UnwindTableStats {
  uint64_t rows_used = 0;
  uint64_t rows_capacity = 0;
  uint64_t files = 0;                 // files whose rows are loaded
  uint64_t processes = 0;             // processes described to the kernel
  uint64_t files_without_cfi = 0;     // no .eh_frame_hdr: their frames follow frame pointers
  uint64_t files_unreadable = 0;      // refused or not an ELF file (cumulative)
  uint64_t files_over_row_bound = 0;  // more rows than one file may have (cumulative)
  uint64_t files_table_full = 0;      // no room left in the rows array (cumulative)
  uint64_t processes_over_mapping_bound = 0;  // more executable mappings than described (cum.)
  uint64_t processes_not_described = 0;       // the process table was full (cumulative)
  uint64_t processes_rechecked = 0;  // maps read again: walked since the last re-check (cum.)
  uint64_t python_processes = 0;     // described with their Python frames (now)
  uint64_t python_unsupported = 0;   // a CPython whose version's layout is unknown (cumulative)
};

// The kernel maps the walker reads (bpf/unwind/dwarf_walk.bpf.h), owned by the probe.
struct UnwindMaps {
  int rows_fd = -1;
  int procs_fd = -1;
  int pending_fd = -1;
  uint32_t rows_capacity = 0;
};

// Keeps the kernel's unwind tables in step with the traced processes: converts each mapped ELF
// file's CFI once (files are keyed by device, inode, size and mtime, so a library mapped by 500
// processes is converted and stored once), describes each process's executable mappings, and
// frees a file's rows when no described process maps it any more.
// Thread-safe: every stack-taking probe (on-CPU, off-CPU) shares one instance and its maps.
class UnwindTables {
 public:
  // Uses maps created elsewhere (tests).
  explicit UnwindTables(UnwindMaps maps, std::string proc_root = "/proc");
  ~UnwindTables();
  UnwindTables(const UnwindTables&) = delete;
  UnwindTables& operator=(const UnwindTables&) = delete;

  // Creates the maps (owned): room for `rows` CFI rows (12 bytes each) in all.
  static Result<std::shared_ptr<UnwindTables>> Create(uint32_t rows);
  // The collector's one instance, created by the first probe that asks (with its row count)
  // and kept while a probe holds it.
  static Result<std::shared_ptr<UnwindTables>> Shared(uint32_t rows);
  // The collector's instance if a probe holds one (for its metrics), else nullptr.
  static std::shared_ptr<UnwindTables> Current();
  // Makes a probe's walker maps (before its object is loaded) these tables' maps.
  Status ReuseIn(bpf_map* rows, bpf_map* procs, bpf_map* pending) const;

  // Describes the process now (or again).
  void Describe(uint32_t tgid);
  // Describes the processes the kernel asked about (each at most once per 2 s) and, every 10 s,
  // Recheck(). Called from the probe's drain loop.
  void Poll();
  // Forgets described processes that exited, and describes again those whose executable
  // mappings changed (exec, dlopen) among the ones walked since the previous re-check: reading
  // every process's maps each time cost a node with a thousand idle processes a share of a core.
  void Recheck();
  UnwindTableStats stats() const;
  const UnwindMaps& maps() const { return maps_; }

 private:
  using FileKey = std::tuple<dev_t, ino_t, off_t, int64_t>;  // device, inode, size, mtime (ns)
  struct FileRows {
    uint32_t begin = 0;
    uint32_t count = 0;  // 0: no rows (frame pointers, unless rows_missing)
    // The file has CFI that a bound kept out (rows array full, over the row bound): the walker
    // stops in its code instead of guessing by frame pointers.
    bool rows_missing = false;
    uint32_t users = 0;
    std::vector<LoadSegment> loads;
    // A CPython interpreter (its runtime and eval loop): its processes get Python frames.
    std::optional<python::InterpreterFile> python;
  };
  struct Process {
    std::vector<FileKey> files;
    uint64_t signature = 0;
    bool python = false;
    std::chrono::steady_clock::time_point described;
  };

  // The file open at `fd`, converted if new; nullptr when it cannot be used. Takes a reference.
  FileRows* Acquire(int fd, const std::string& path, FileKey* key);
  void Release(const FileKey& key);
  void Forget(uint32_t tgid);
  bool UploadRows(uint32_t begin, const std::vector<zt_unwind_row>& rows);

  void DescribeLocked(uint32_t tgid);
  void DescribePython(const FileRows& file, const symbolizer::MapEntry& mapping,
                      zt_unwind_python* out);
  void RecheckLocked();

  mutable std::mutex mu_;
  UnwindMaps maps_;
  bool owns_maps_ = false;
  std::string proc_root_;
  RowAllocator rows_;
  std::map<FileKey, FileRows> files_;
  std::unordered_map<uint32_t, Process> procs_;
  std::chrono::steady_clock::time_point last_recheck_{};
  UnwindTableStats counters_;
};

}  // namespace zerotrace::unwind
