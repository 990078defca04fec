#include "unwind/walker_setup.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "unwind.h"

namespace zerotrace::unwind {

Result<std::shared_ptr<UnwindTables>> ShareTables(bool cfi, uint32_t rows, bpf_map* rows_map,
                                                  bpf_map* procs_map, bpf_map* pending_map) {
  if (!cfi) {
    // Not walking: the object's own (unused) tables take no memory worth speaking of.
    for (bpf_map* m : {rows_map, procs_map, pending_map}) bpf_map__set_max_entries(m, 1);
    return std::shared_ptr<UnwindTables>();
  }
  auto tables = UnwindTables::Shared(rows);
  if (!tables.ok()) return tables.error();
  if (auto s = tables.value()->ReuseIn(rows_map, procs_map, pending_map); !s)
    return Error{s.message()};
  return tables.value();
}

Status InstallWalker(bpf_map* progs, bpf_program* walker, const char* probe) {
  const uint32_t slot = 0;
  const int fd = bpf_program__fd(walker);
  if (bpf_map_update_elem(bpf_map__fd(progs), &slot, &fd, BPF_ANY) != 0) {
    return Error{std::string(probe) + ": cannot install the stack walker: " + std::strerror(errno)};
  }
  return Status::Ok();
}

std::vector<uint64_t> ReadWalkStats(bpf_map* stats) {
  std::vector<uint64_t> out(ZT_UNWIND_STAT_MAX, 0);
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t i = 0; i < ZT_UNWIND_STAT_MAX; ++i) {
    if (bpf_map_lookup_elem(bpf_map__fd(stats), &i, per_cpu.data()) != 0) continue;
    for (uint64_t v : per_cpu) out[i] += v;
  }
  return out;
}

bool HaveTaskPtRegs(int prog_type) {
  return libbpf_probe_bpf_helper(static_cast<enum bpf_prog_type>(prog_type), BPF_FUNC_task_pt_regs,
                                 nullptr) > 0;
}

}  // namespace zerotrace::unwind
