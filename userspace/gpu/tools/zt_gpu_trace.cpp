// zt_gpu_trace: runs a command under GpuTracing (driver uprobes + CUPTI injector USDT) and writes
// what the daemon would serve: GPU metrics, the leak report, the GPU flamegraph (folded, SVG,
// pprof) and the Chrome trace, on GPU machines that have no daemon (it needs only libbpf, libelf
// and zlib at run time).
//   zt_gpu_trace [--libcuda PATH] [--injector PATH] [--out DIR] -- command args...
// The command runs with CUDA_INJECTION64_PATH=--injector; both libraries are attached by path
// before it starts (and any other libcuda/injector it maps is found by the periodic rescan).
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

#include "core/clock.h"
#include "flamegraph/folded.h"
#include "gpu/gpu_tracing.h"
#include "gpu/kernel_names.h"
#include "python/frame_symbolizer.h"
#include "symbolizer/elf_user_symbolizer.h"

namespace zerotrace::gpu {
namespace {

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
  options.aggregator.symbolizer = std::make_shared<python::PythonFrameSymbolizer>(
      std::make_shared<symbolizer::ElfUserSymbolizer>());
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
  const int64_t start_ns = static_cast<int64_t>(MonotonicNs());
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
