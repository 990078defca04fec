// zt_cupti_trace: minimal standalone reader of the injector's USDT probes (cupti.bpf.c), for
// checking the whole CUPTI -> USDT -> BPF path on a GPU machine without the daemon
// (scripts/gpu-e2e.sh). Runs a command with CUDA_INJECTION64_PATH set, attaches to it, and prints
// a summary of what arrived through the ring buffer.
//   zt_cupti_trace <libzerotrace_cupti.so> -- <command> [args...]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bpf/cupti.h"
#include "cupti.skel.h"
#include "userspace/gpu/gpu_labels.h"

namespace {

struct Summary {
  struct Kernel {
    unsigned long long count = 0, gpu_ns = 0;
  };
  std::map<std::string, Kernel> kernels;
  std::map<unsigned, std::pair<unsigned long long, unsigned long long>> memcpy_by_kind;
  unsigned long long memsets = 0, memset_bytes = 0;
  unsigned long long allocs = 0, alloc_bytes = 0, releases = 0, release_bytes = 0;
  unsigned long long syncs = 0, sync_ns = 0;
  unsigned long long dropped_cupti = 0, dropped_rate = 0, dropped_events = 0;
  std::set<unsigned> kernel_correlations;
  unsigned long long min_kernel_start = ULLONG_MAX;
};

int OnEvent(void* ctx, void* data, size_t) {
  auto* s = static_cast<Summary*>(ctx);
  const auto* hdr = static_cast<const cupti_event_header*>(data);
  switch (hdr->type) {
    case CUPTI_EV_KERNEL: {
      const auto* e = static_cast<const cupti_kernel_event*>(data);
      auto& k = s->kernels[e->name[0] ? e->name : "?"];
      ++k.count;
      k.gpu_ns += e->rec.end - e->rec.start;
      s->kernel_correlations.insert(e->rec.correlation_id);
      if (e->rec.start < s->min_kernel_start) s->min_kernel_start = e->rec.start;
      break;
    }
    case CUPTI_EV_MEMCPY: {
      const auto* e = static_cast<const cupti_memcpy_event*>(data);
      auto& m = s->memcpy_by_kind[e->rec.copy_kind];
      ++m.first;
      m.second += e->rec.bytes;
      break;
    }
    case CUPTI_EV_MEMSET: {
      const auto* e = static_cast<const cupti_memset_event*>(data);
      ++s->memsets;
      s->memset_bytes += e->rec.bytes;
      break;
    }
    case CUPTI_EV_MEMORY: {
      const auto* e = static_cast<const cupti_memory_event*>(data);
      if (e->rec.op == CUPTI_ZT_MEMORY_OP_ALLOC) {
        ++s->allocs;
        s->alloc_bytes += e->rec.bytes;
      } else if (e->rec.op == CUPTI_ZT_MEMORY_OP_RELEASE) {
        ++s->releases;
        s->release_bytes += e->rec.bytes;
      }
      break;
    }
    case CUPTI_EV_SYNC: {
      const auto* e = static_cast<const cupti_sync_event*>(data);
      ++s->syncs;
      s->sync_ns += e->rec.end - e->rec.start;
      break;
    }
    case CUPTI_EV_DROPPED: {
      const auto* e = static_cast<const cupti_dropped_event*>(data);
      ++s->dropped_events;
      s->dropped_cupti = e->cupti_dropped_total;
      s->dropped_rate = e->rate_skipped_total;
      break;
    }
    default:
      break;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[2], "--") != 0) {
    std::fprintf(stderr, "usage: zt_cupti_trace <libzerotrace_cupti.so> -- <command> [args...]\n");
    return 2;
  }
  char lib[PATH_MAX];
  if (realpath(argv[1], lib) == nullptr) {
    std::fprintf(stderr, "zt_cupti_trace: %s: %s\n", argv[1], std::strerror(errno));
    return 2;
  }
  // The child waits on a pipe until the probes are attached, then execs the command.
  int go[2];
  if (pipe(go) != 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(127);
    close(go[0]);
    setenv("CUDA_INJECTION64_PATH", lib, 1);
    execvp(argv[3], argv + 3);
    std::perror("exec");
    _exit(127);
  }
  close(go[0]);

  cupti_bpf* skel = cupti_bpf__open_and_load();
  if (skel == nullptr) {
    std::fprintf(stderr, "zt_cupti_trace: loading cupti.bpf.o failed\n");
    kill(pid, SIGKILL);
    return 1;
  }
  const std::pair<bpf_program*, const char*> probes[] = {
      {skel->progs.cupti_kernel, "kernel"},   {skel->progs.cupti_memcpy, "memcpy"},
      {skel->progs.cupti_memset, "memset"},   {skel->progs.cupti_memory, "memory"},
      {skel->progs.cupti_sync, "sync"},       {skel->progs.cupti_launch, "launch"},
      {skel->progs.cupti_dropped, "dropped"},
  };
  std::vector<bpf_link*> links;
  for (const auto& [prog, name] : probes) {
    // Uprobes are per inode and the kernel sets USDT semaphores when the library gets mapped, so
    // attaching before the process has loaded the injector works.
    bpf_link* l = bpf_program__attach_usdt(prog, pid, lib, "zerotrace", name, nullptr);
    if (l == nullptr) {
      std::fprintf(stderr, "zt_cupti_trace: attach zerotrace:%s failed: %s\n", name,
                   std::strerror(errno));
      kill(pid, SIGKILL);
      return 1;
    }
    links.push_back(l);
  }
  Summary s;
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.cupti_events), OnEvent, &s, nullptr);
  if (write(go[1], "g", 1) != 1) return 1;
  close(go[1]);

  int status = 0;
  for (;;) {
    ring_buffer__poll(rb, 100);
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
  }
  while (ring_buffer__poll(rb, 100) > 0) {
  }

  // Launch stacks recorded for this process, and how many kernels found theirs.
  unsigned long long stacks = 0, matched = 0;
  const int fd = bpf_map__fd(skel->maps.launch_stacks);
  cupti_launch_key key{}, next{};
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
    first = false;
    key = next;
    cupti_launch_info info{};
    if (next.tgid != static_cast<__u32>(pid) || bpf_map_lookup_elem(fd, &next, &info) != 0) {
      continue;
    }
    if (info.ustack_id >= 0) ++stacks;
    if (s.kernel_correlations.count(next.correlation_id)) ++matched;
  }
  unsigned long long drops[CUPTI_DROP_MAX] = {};
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<__u64> percpu(ncpu > 0 ? ncpu : 1);
  for (__u32 i = 0; i < CUPTI_DROP_MAX; i++) {
    if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.cupti_drops), &i, percpu.data()) == 0) {
      for (auto v : percpu) drops[i] += v;
    }
  }

  const char* p = "zerotrace-trace:";
  for (const auto& [name, k] : s.kernels) {
    std::printf("%s kernel name=%s count=%llu gpu_ns=%llu\n", p, name.c_str(), k.count, k.gpu_ns);
  }
  for (const auto& [kind, m] : s.memcpy_by_kind) {
    std::printf("%s memcpy kind=%s count=%llu bytes=%llu\n", p,
                zerotrace::gpu::MemcpyKindName(kind), m.first, m.second);
  }
  std::printf("%s memset count=%llu bytes=%llu\n", p, s.memsets, s.memset_bytes);
  std::printf("%s memory allocs=%llu alloc_bytes=%llu releases=%llu release_bytes=%llu\n", p,
              s.allocs, s.alloc_bytes, s.releases, s.release_bytes);
  std::printf("%s sync count=%llu ns=%llu\n", p, s.syncs, s.sync_ns);
  std::printf("%s launch_stacks=%llu kernels_with_launch_stack=%llu\n", p, stacks, matched);
  std::printf(
      "%s dropped events=%llu cupti=%llu rate_skipped=%llu bpf_ringbuf=%llu "
      "bpf_read=%llu bpf_stack=%llu\n",
      p, s.dropped_events, s.dropped_cupti, s.dropped_rate, drops[CUPTI_DROP_RINGBUF_FULL],
      drops[CUPTI_DROP_READ_FAILED], drops[CUPTI_DROP_STACK]);
  std::printf("%s exit=%d\n", p, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  ring_buffer__free(rb);
  for (auto* l : links) bpf_link__destroy(l);
  cupti_bpf__destroy(skel);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
