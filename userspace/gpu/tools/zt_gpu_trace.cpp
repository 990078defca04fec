// zt_gpu_trace: runs a command under GpuTracing (driver uprobes + CUPTI injector USDT) and writes
// what the daemon would serve: GPU metrics, the leak report, the GPU flamegraph (folded, SVG,
// pprof) and the Chrome trace. For GPU machines without the daemon's dependencies (libbcc): it
// symbolizes with its own small ELF symbol reader.
//   zt_gpu_trace [--libcuda PATH] [--injector PATH] [--out DIR] -- command args...
// The command runs with CUDA_INJECTION64_PATH=--injector; both libraries are attached by path
// before it starts (and any other libcuda/injector it maps is found by the periodic rescan).
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <prometheus/text_serializer.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "flamegraph/folded.h"
#include "gpu/gpu_tracing.h"
#include "gpu/kernel_names.h"
#include "symbolizer/proc_maps.h"

namespace zerotrace::gpu {
namespace {

// /proc/PID/maps + ELF .symtab/.dynsym, no debuginfo, no caching across files beyond a map.
class ElfSymbolizer : public symbolizer::Symbolizer {
 public:
  void Prepare(uint32_t pid) override { maps_[pid] = symbolizer::ProcMaps::Read(pid); }
  flamegraph::Frame Symbolize(uint32_t pid, uint64_t address) override {
    auto& maps = maps_[pid];
    const symbolizer::MapEntry* e = maps.Find(address);
    if (!e) {
      maps = symbolizer::ProcMaps::Read(pid);
      e = maps.Find(address);
    }
    flamegraph::Frame f = symbolizer::FallbackFrame(e, address);
    if (!e || !e->file_backed()) return f;
    const Elf& elf = Load(e->path);
    const uint64_t off = address - e->start + e->offset;
    uint64_t vaddr = off;
    for (const auto& [p_offset, p_vaddr, p_filesz] : elf.loads) {
      if (off >= p_offset && off < p_offset + p_filesz) {
        vaddr = off - p_offset + p_vaddr;
        break;
      }
    }
    auto it = std::upper_bound(elf.syms.begin(), elf.syms.end(), vaddr,
                               [](uint64_t v, const Sym& s) { return v < s.start; });
    if (it != elf.syms.begin()) {
      --it;
      if (vaddr < it->start + std::max<uint64_t>(it->size, 1)) {
        f.function = DemangleKernelName(it->name);  // any Itanium name
      }
    }
    return f;
  }
  void Forget(uint32_t pid) override { maps_.erase(pid); }

 private:
  struct Sym {
    uint64_t start, size;
    std::string name;
  };
  struct Elf {
    std::vector<Sym> syms;
    std::vector<std::tuple<uint64_t, uint64_t, uint64_t>> loads;
  };
  const Elf& Load(const std::string& path) {
    auto [it, inserted] = elfs_.try_emplace(path);
    if (!inserted) return it->second;
    Elf& out = it->second;
    elf_version(EV_CURRENT);
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    ::Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
    if (elf) {
      size_t n = 0;
      if (elf_getphdrnum(elf, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
          GElf_Phdr ph;
          if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD) {
            out.loads.emplace_back(ph.p_offset, ph.p_vaddr, ph.p_filesz);
          }
        }
      }
      Elf_Scn* scn = nullptr;
      while ((scn = elf_nextscn(elf, scn)) != nullptr) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)) {
          continue;
        }
        Elf_Data* data = elf_getdata(scn, nullptr);
        if (!data || sh.sh_entsize == 0) continue;
        for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
          GElf_Sym s;
          if (!gelf_getsym(data, static_cast<int>(i), &s)) continue;
          if (GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_value == 0) continue;
          const char* name = elf_strptr(elf, sh.sh_link, s.st_name);
          if (name && *name) out.syms.push_back({s.st_value, s.st_size, name});
        }
      }
      elf_end(elf);
    }
    close(fd);
    std::sort(out.syms.begin(), out.syms.end(),
              [](const Sym& a, const Sym& b) { return a.start < b.start; });
    return out;
  }

  std::map<uint32_t, symbolizer::ProcMaps> maps_;
  std::map<std::string, Elf> elfs_;
};

int Usage() {
  std::fprintf(stderr,
               "usage: zt_gpu_trace [--libcuda PATH] [--injector PATH] [--out DIR] -- cmd...\n");
  return 2;
}

int Main(int argc, char** argv) {
  std::string libcuda, injector, out_dir = ".";
  int i = 1;
  for (; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) return Usage();
    if (a == "--libcuda") {
      libcuda = argv[++i];
    } else if (a == "--injector") {
      injector = argv[++i];
    } else if (a == "--out") {
      out_dir = argv[++i];
    } else {
      return Usage();
    }
  }
  if (i >= argc) return Usage();

  int gate[2];
  if (pipe(gate) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(gate[1]);
    char c;
    if (read(gate[0], &c, 1) != 1) _exit(127);
    close(gate[0]);
    if (!injector.empty()) setenv("CUDA_INJECTION64_PATH", injector.c_str(), 1);
    execvp(argv[i], argv + i);
    std::perror("execvp");
    _exit(127);
  }
  close(gate[0]);

  Features features(MakeKernelFeatureProber());
  ProcessSelection sel;
  sel.pids.push_back(static_cast<uint32_t>(child));
  auto filter = ProcessFilter::Create(sel);
  if (!filter) {
    std::fprintf(stderr, "zt_gpu_trace: %s\n", filter.error().message.c_str());
    kill(child, SIGKILL);
    return 1;
  }
  ProcessCatalog catalog;
  prometheus::Registry registry;
  GpuOptions options;
  if (!libcuda.empty()) options.libcuda_paths.push_back(libcuda);
  if (!injector.empty()) options.cupti_paths.push_back(injector);
  options.aggregator.symbolizer = std::make_shared<ElfSymbolizer>();
  auto gpu = GpuTracing::Create(features, *filter, catalog, registry, options);
  if (!gpu) {
    std::fprintf(stderr, "zt_gpu_trace: %s\n", gpu.error().message.c_str());
    kill(child, SIGKILL);
    return 1;
  }
  if (auto s = (*gpu)->Attach(); !s) {
    std::fprintf(stderr, "zt_gpu_trace: %s\n", s.message().c_str());
    kill(child, SIGKILL);
    return 1;
  }
  for (const auto& w : (*gpu)->warnings())
    std::fprintf(stderr, "zt_gpu_trace: warning: %s\n", w.c_str());
  for (Probe* p : (*gpu)->probes()) {
    std::fprintf(stderr, "zt_gpu_trace: probe %s attached (%s)\n", p->name(),
                 p->attach_mode().c_str());
  }
  const int64_t start_ns = MonotonicNowNs();
  const auto rec = (*gpu)->aggregator().StartRecording({});
  if (write(gate[1], "g", 1) != 1) return 1;
  close(gate[1]);

  int status = 0;
  auto last_scan = std::chrono::steady_clock::now();
  while (true) {
    (*gpu)->Poll(100);
    const pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) break;
    if (std::chrono::steady_clock::now() - last_scan > std::chrono::seconds(1)) {
      (void)(*gpu)->Rescan();
      last_scan = std::chrono::steady_clock::now();
    }
  }
  for (int k = 0; k < 5; k++) (*gpu)->Poll(20);
  const auto profile = (*gpu)->aggregator().StopRecording(rec);

  std::ostringstream metrics;
  prometheus::TextSerializer().Serialize(metrics, registry.Collect());
  std::ofstream(out_dir + "/gpu_metrics.txt") << metrics.str();
  std::istringstream lines(metrics.str());
  std::string line;
  std::printf("== metrics (no buckets)\n");
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#' || line.find("_bucket{") != std::string::npos) continue;
    std::printf("%s\n", line.c_str());
  }
  std::printf("== summary\n%s", (*gpu)->Summary(profile, 10).c_str());
  const std::string folded = flamegraph::FoldedWriter::ToString(profile);
  std::printf("== gpu.folded\n%s", folded.c_str());
  auto files = (*gpu)->WriteFiles(out_dir, profile, 0, start_ns);
  if (!files) std::fprintf(stderr, "zt_gpu_trace: %s\n", files.error().message.c_str());
  const auto st = (*gpu)->aggregator().stats();
  std::printf(
      "== stats cuda_events=%llu cupti_events=%llu kernels=%llu with_launch_stack=%llu "
      "unknown_frees=%llu injector_dropped=%llu events_lost=%llu\n",
      static_cast<unsigned long long>(st.cuda_events),
      static_cast<unsigned long long>(st.cupti_events), static_cast<unsigned long long>(st.kernels),
      static_cast<unsigned long long>(st.kernels_with_launch_stack),
      static_cast<unsigned long long>(st.unknown_frees),
      static_cast<unsigned long long>(st.injector_dropped),
      static_cast<unsigned long long>((*gpu)->events_lost()));
  std::printf("== command exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace
}  // namespace zerotrace::gpu

int main(int argc, char** argv) { return zerotrace::gpu::Main(argc, argv); }
