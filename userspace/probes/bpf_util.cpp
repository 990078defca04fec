#include "probes/bpf_util.h"

#include <bpf/bpf.h>

#include <thread>
#include <vector>

namespace zerotrace {

std::vector<ProgramStats> ReadProgramStats(bpf_object* obj) {
  std::vector<ProgramStats> out;
  if (!obj) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    const int fd = bpf_program__fd(prog);
    if (fd < 0) continue;  // not loaded (the losing variant of a feature-probed pair)
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    out.push_back({bpf_program__name(prog), info.id, info.run_time_ns, info.run_cnt});
  }
  return out;
}

}  // namespace zerotrace

namespace zerotrace {

uint64_t SumPerCpuCounters(int map_fd, uint32_t n) { return SumPerCpuCounters(map_fd, 0, n); }

uint64_t SumPerCpuCounters(int map_fd, uint32_t first, uint32_t end) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0 || map_fd < 0) return 0;
  std::vector<__u64> values(static_cast<size_t>(ncpu));
  uint64_t total = 0;
  for (__u32 i = first; i < end; ++i) {
    if (bpf_map_lookup_elem(map_fd, &i, values.data()) == 0) {
      for (auto v : values) total += v;
    }
  }
  return total;
}

}  // namespace zerotrace

namespace zerotrace {

void DestroyLinksConcurrently(std::vector<bpf_link*>& links) {
  std::vector<std::thread> threads;
  for (bpf_link*& link : links) {
    if (!link) continue;
    threads.emplace_back([l = link] { bpf_link__destroy(l); });
    link = nullptr;
  }
  for (auto& t : threads) t.join();
}

}  // namespace zerotrace
