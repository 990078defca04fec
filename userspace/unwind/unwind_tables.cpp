#include "unwind/unwind_tables.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include <spdlog/spdlog.h>
#include <cstring>
#include "core/untrusted_file.h"
#include "symbolizer/proc_maps.h"

namespace zerotrace::unwind {
namespace {

constexpr auto kMinRedescribe = std::chrono::seconds(2);
constexpr auto kRecheckEvery = std::chrono::seconds(10);

// What of a process's maps the tables depend on: its executable mappings.
uint64_t Signature(const symbolizer::ProcMaps& maps) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](uint64_t v) { h = (h ^ v) * 0x100000001b3ULL; };
  for (const auto& e : maps.entries()) {
    if (!e.executable()) continue;
    mix(e.start);
    mix(e.end);
    mix(e.offset);
    mix(e.inode);
  }
  return h;
}

}  // namespace

UnwindTables::UnwindTables(UnwindMaps maps, std::string proc_root)
    : maps_(maps), proc_root_(std::move(proc_root)), rows_(maps.rows_capacity) {}

UnwindTables::~UnwindTables() {
  if (!owns_maps_) return;
  for (int fd : {maps_.rows_fd, maps_.procs_fd, maps_.pending_fd}) {
    if (fd >= 0) close(fd);
  }
}

Result<std::shared_ptr<UnwindTables>> UnwindTables::Create(uint32_t rows) {
  if (rows == 0) return Error{"unwind: the CFI row table needs at least one row"};
  UnwindMaps m;
  m.rows_capacity = rows;
  m.rows_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "unwind_rows", sizeof(uint32_t),
                             sizeof(zt_unwind_row), rows, nullptr);
  // Preallocated (perf_event programs before 6.1 may use no other hash map).
  m.procs_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "unwind_procs", sizeof(uint32_t),
                              sizeof(zt_unwind_proc), ZT_UNWIND_DEFAULT_PROCS, nullptr);
  m.pending_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "unwind_pending", sizeof(uint32_t),
                                sizeof(uint8_t), ZT_UNWIND_PENDING_ENTRIES, nullptr);
  auto tables = std::make_shared<UnwindTables>(m);
  tables->owns_maps_ = true;
  if (m.rows_fd < 0 || m.procs_fd < 0 || m.pending_fd < 0) {
    return Error{std::string("unwind: cannot create the CFI tables (") + std::to_string(rows) +
                 " rows of 12 bytes): " + std::strerror(errno)};
  }
  return tables;
}

namespace {
std::mutex shared_mu;
std::weak_ptr<UnwindTables> shared_tables;
}  // namespace

Result<std::shared_ptr<UnwindTables>> UnwindTables::Shared(uint32_t rows) {
  std::lock_guard lock(shared_mu);
  if (auto t = shared_tables.lock()) return t;
  auto created = Create(rows);
  if (created.ok()) shared_tables = created.value();
  return created;
}

std::shared_ptr<UnwindTables> UnwindTables::Current() {
  std::lock_guard lock(shared_mu);
  return shared_tables.lock();
}

Status UnwindTables::ReuseIn(bpf_map* rows, bpf_map* procs, bpf_map* pending) const {
  if (bpf_map__reuse_fd(rows, maps_.rows_fd) != 0 ||
      bpf_map__reuse_fd(procs, maps_.procs_fd) != 0 ||
      bpf_map__reuse_fd(pending, maps_.pending_fd) != 0) {
    return Error{std::string("unwind: cannot share the CFI tables with a probe: ") +
                 std::strerror(errno)};
  }
  return Status::Ok();
}

bool UnwindTables::UploadRows(uint32_t begin, const std::vector<zt_unwind_row>& rows) {
  std::vector<uint32_t> keys(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) keys[i] = begin + static_cast<uint32_t>(i);
  __u32 count = static_cast<__u32>(rows.size());
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(maps_.rows_fd, keys.data(), rows.data(), &count, &opts) == 0) {
    return true;
  }
  // Kernels or maps without batch updates: one row at a time.
  for (size_t i = 0; i < rows.size(); ++i) {
    if (bpf_map_update_elem(maps_.rows_fd, &keys[i], &rows[i], BPF_ANY) != 0) return false;
  }
  return true;
}

UnwindTables::FileRows* UnwindTables::Acquire(int fd, const std::string& path, FileKey* key) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return nullptr;
  *key = FileKey{st.st_dev, st.st_ino, st.st_size,
                 static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  auto it = files_.find(*key);
  if (it != files_.end()) {
    ++it->second.users;
    return &it->second;
  }
  FileRows file;
  auto cfi = ReadCfiRows(fd);
  if (!cfi.ok()) {
    ++counters_.files_unreadable;
    return nullptr;
  }
  file.loads = std::move(cfi->loads);
  if (int minor = 0; python::LooksLikeInterpreter(path, &minor)) {
    if (auto py = python::InspectInterpreterFile(fd, minor); py.ok()) file.python = *py;
  }
  if (cfi->over_row_bound) {
    ++counters_.files_over_row_bound;  // kept (without rows), so it is not read again
    file.rows_missing = true;
  } else if (cfi->rows.empty()) {
    ++counters_.files_without_cfi;
  } else if (auto begin = rows_.Allocate(static_cast<uint32_t>(cfi->rows.size()))) {
    if (UploadRows(*begin, cfi->rows)) {
      file.begin = *begin;
      file.count = static_cast<uint32_t>(cfi->rows.size());
    } else {
      rows_.Free(*begin, static_cast<uint32_t>(cfi->rows.size()));
      ++counters_.files_unreadable;
    }
  } else {
    ++counters_.files_table_full;  // its frames end the walk (ZT_UNWIND_ROWS_MISSING)
    file.rows_missing = true;
  }
  file.users = 1;
  return &files_.emplace(*key, std::move(file)).first->second;
}

void UnwindTables::Release(const FileKey& key) {
  auto it = files_.find(key);
  if (it == files_.end()) return;
  if (--it->second.users > 0) return;
  rows_.Free(it->second.begin, it->second.count);
  files_.erase(it);
}

void UnwindTables::Forget(uint32_t tgid) {
  bpf_map_delete_elem(maps_.procs_fd, &tgid);
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return;
  for (const FileKey& k : it->second.files) Release(k);
  procs_.erase(it);
}

void UnwindTables::Describe(uint32_t tgid) {
  std::lock_guard lock(mu_);
  DescribeLocked(tgid);
}

void UnwindTables::DescribeLocked(uint32_t tgid) {
  const auto maps = symbolizer::ProcMaps::Read(tgid, proc_root_);
  if (maps.empty()) {
    Forget(tgid);
    return;
  }
  auto proc = std::make_unique<zt_unwind_proc>();
  Process described;
  described.signature = Signature(maps);
  described.described = std::chrono::steady_clock::now();
  const std::string root = proc_root_ + "/" + std::to_string(tgid) + "/root";
  std::vector<const symbolizer::MapEntry*> executable;
  for (const auto& e : maps.entries()) {
    if (e.executable()) executable.push_back(&e);
  }
  // More executable mappings than entries (a Python process with hundreds of extension modules):
  // keep the lowest one (the program) and the highest ones (the loader, libc and what was loaded
  // at start: mmap places later libraries lower), and cover those between with one entry where
  // the walk stops rather than guess, since their rows are not loaded.
  size_t skip_from = executable.size(), skip_to = executable.size();
  if (executable.size() > ZT_UNWIND_MAX_MAPPINGS) {
    ++counters_.processes_over_mapping_bound;
    skip_from = 1;
    skip_to = executable.size() - (ZT_UNWIND_MAX_MAPPINGS - 2);
  }
  for (size_t i = 0; i < executable.size(); ++i) {
    const symbolizer::MapEntry& e = *executable[i];
    if (i == skip_from) {
      zt_unwind_mapping& m = proc->mappings[proc->count++];
      m.start = e.start;
      m.end = executable[skip_to - 1]->end;
      m.row_begin = ZT_UNWIND_ROWS_MISSING;
      i = skip_to - 1;
      continue;
    }
    zt_unwind_mapping& m = proc->mappings[proc->count++];
    m.start = e.start;
    m.end = e.end;
    // Anonymous (JIT) and [vdso] mappings stay described without rows: their frames follow
    // frame pointers, and the walker does not ask for the process again for them.
    if (!e.file_backed()) continue;
    const int fd =
        OpenUntrustedFile(FileLocation{root, e.path}, {.max_bytes = kMaxBinaryFileBytes});
    if (fd < 0) {
      ++counters_.files_unreadable;
      continue;
    }
    FileKey key;
    FileRows* file = Acquire(fd, e.path, &key);
    close(fd);
    if (!file) continue;
    described.files.push_back(key);
    if (file->python && !proc->python.runtime) DescribePython(*file, e, &proc->python);
    if (file->rows_missing) {
      m.row_begin = ZT_UNWIND_ROWS_MISSING;
      continue;
    }
    uint64_t bias = 0;
    if (file->count > 0 && MappingBias(file->loads, e.start, e.offset, &bias)) {
      m.bias = bias;
      m.row_begin = file->begin;
      m.row_count = file->count;
    }
  }
  described.python = proc->python.runtime != 0;
  // A full table (E2BIG) leaves the process to frame pointers; it is still remembered below, so
  // it is not described again before the usual interval.
  if (bpf_map_update_elem(maps_.procs_fd, &tgid, proc.get(), BPF_ANY) != 0) {
    ++counters_.processes_not_described;
    spdlog::debug("unwind: cannot describe process {}: {}", tgid, std::strerror(errno));
  }
  // Release the previous description's files after taking the new ones (shared files stay).
  auto it = procs_.find(tgid);
  if (it != procs_.end()) {
    for (const FileKey& k : it->second.files) Release(k);
    it->second = std::move(described);
  } else {
    procs_.emplace(tgid, std::move(described));
  }
}

void UnwindTables::DescribePython(const FileRows& file, const symbolizer::MapEntry& mapping,
                                  zt_unwind_python* out) {
  const python::InterpreterFile& py = *file.python;
  auto layout = python::LayoutFor(py.major, py.minor);
  if (!layout) {
    ++counters_.python_unsupported;  // its stacks stay native only
    return;
  }
  uint64_t bias = 0;
  if (!MappingBias(file.loads, mapping.start, mapping.offset, &bias)) return;
  *out = layout->kernel;
  out->runtime = py.runtime + bias;
  out->eval_start = py.eval_start + bias;
  out->eval_end = py.eval_end + bias;
  if (py.cold_end > py.cold_start) {
    out->cold_start = py.cold_start + bias;
    out->cold_end = py.cold_end + bias;
  }
}

void UnwindTables::Poll() {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  uint32_t key = 0, next = 0;
  std::vector<uint32_t> asked;
  const uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(maps_.pending_fd, prev, &next) == 0) {
    asked.push_back(next);
    key = next;
    prev = &key;
  }
  for (uint32_t tgid : asked) {
    bpf_map_delete_elem(maps_.pending_fd, &tgid);
    auto it = procs_.find(tgid);
    if (it != procs_.end() && now - it->second.described < kMinRedescribe) continue;
    DescribeLocked(tgid);
  }
  if (now - last_recheck_ < kRecheckEvery) return;
  last_recheck_ = now;
  RecheckLocked();
}

void UnwindTables::Recheck() {
  std::lock_guard lock(mu_);
  RecheckLocked();
}

void UnwindTables::RecheckLocked() {
  std::vector<uint32_t> known;
  for (const auto& [tgid, p] : procs_) known.push_back(tgid);
  auto proc = std::make_unique<zt_unwind_proc>();
  for (uint32_t tgid : known) {
    const std::string dir = proc_root_ + "/" + std::to_string(tgid);
    if (access(dir.c_str(), F_OK) != 0) {
      Forget(tgid);
      continue;
    }
    // Not in the kernel's table (it was full): described again only when asked.
    if (bpf_map_lookup_elem(maps_.procs_fd, &tgid, proc.get()) != 0 || !proc->walked) continue;
    ++counters_.processes_rechecked;
    const auto maps = symbolizer::ProcMaps::Read(tgid, proc_root_);
    if (maps.empty()) {
      Forget(tgid);
    } else if (Signature(maps) != procs_[tgid].signature) {
      DescribeLocked(tgid);  // stored with the flag clear
    } else {
      proc->walked = 0;
      bpf_map_update_elem(maps_.procs_fd, &tgid, proc.get(), BPF_EXIST);
    }
  }
}

UnwindTableStats UnwindTables::stats() const {
  std::lock_guard lock(mu_);
  UnwindTableStats s = counters_;
  s.rows_used = rows_.used();
  s.rows_capacity = rows_.capacity();
  s.files = files_.size();
  s.processes = procs_.size();
  s.python_processes = static_cast<uint64_t>(
      std::count_if(procs_.begin(), procs_.end(), [](const auto& p) { return p.second.python; }));
  return s;
}

}  // namespace zerotrace::unwind
