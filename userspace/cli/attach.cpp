#include "cli/attach.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "aggregators/endpoint_stats.h"
#include "aggregators/request_pipeline.h"
#include "cli/daemon.h"
#include "core/clock.h"
#include "core/privileges.h"
#include "core/tracefs.h"
#include "gpu/gpu_tracing.h"
#include "probes/process_filter.h"
#include "probes/sockets_probe.h"
#include "process/process_catalog.h"
#include "profiling/attach_profiles.h"
#include "profiling/profile_collector.h"
#include "spans/span_builder.h"

namespace zerotrace {
namespace {

bool WaitForStop(const sigset_t& set, timespec ts) {
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig == SIGINT || sig == SIGTERM;
}

bool WaitForStop(const sigset_t& set, std::chrono::milliseconds slice) {
  return WaitForStop(set, timespec{static_cast<time_t>(slice.count() / 1000),
                                   static_cast<long>((slice.count() % 1000) * 1000000)});
}

Status PrepareOutDir(const std::string& dir) {
  mkdir(dir.c_str(), 0755);
  const std::string probe = dir + "/.zerotrace-write-test";
  int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return Error{"--out " + dir + " is not a writable directory"};
  close(fd);
  unlink(probe.c_str());
  return Status::Ok();
}

}  // namespace

int RunAttach(const AttachOptions& o) {
  if (o.pid == 0) {
    std::fprintf(stderr, "zerotrace attach: --pid is required\n");
    return 2;
  }
  if (auto s = PrepareOutDir(o.out_dir); !s) {
    std::fprintf(stderr, "zerotrace attach: %s\n", s.message().c_str());
    return 2;
  }
  // Found out now, not after the whole --duration.
  if (!o.summary_json.empty() && !std::ofstream(o.summary_json, std::ios::app)) {
    std::fprintf(stderr, "zerotrace attach: cannot write --summary-json %s: %s\n",
                 o.summary_json.c_str(), std::strerror(errno));
    return 2;
  }
  ProcessCatalog catalog(o.proc_root);
  auto target = catalog.Lookup(o.pid);
  if (!target) {
    std::fprintf(stderr, "zerotrace attach: process %u does not exist\n", o.pid);
    return 1;
  }
  if (auto s = CheckBpfPrivileges(); !s) {
    std::fprintf(stderr, "zerotrace attach: %s\n", s.message().c_str());
    return 1;
  }
  RaiseMemlockLimit();
  if (auto t = EnsureTracefsMounted(); !t) {
    std::fprintf(stderr, "zerotrace attach: %s\n", t.error().message.c_str());
    return 1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto features = MakeFeatures();
  ProcessSelection selection;
  selection.pids = {o.pid};
  auto filter = ProcessFilter::Create(selection);
  if (!filter) {
    std::fprintf(stderr, "zerotrace attach: %s\n", filter.error().message.c_str());
    return 1;
  }
  prometheus::Registry registry;
  RequestPipeline pipeline(registry, catalog);
  EndpointStats endpoints;
  pipeline.AddConsumer(&endpoints);
  std::unique_ptr<tracing::SpanPipeline> spans;
  if (!o.spans_file.empty()) {
    auto sp = tracing::SpanPipeline::CreateFile(catalog, o.spans_file);
    if (!sp.ok()) {
      std::fprintf(stderr, "zerotrace attach: --spans %s: %s\n", o.spans_file.c_str(),
                   sp.error().message.c_str());
      return 2;
    }
    spans = std::move(sp.value());
    pipeline.AddConsumer(spans->consumer());
  }
  SocketsProbeOptions sopts;
  sopts.self_tgid = static_cast<uint32_t>(getpid());
  SocketsProbe sockets(*features, *filter, sopts, pipeline.Handler());
  if (auto s = sockets.Attach(); !s) {
    std::fprintf(stderr, "zerotrace attach: %s\n", s.message().c_str());
    return 1;
  }
  sockets.AttachTlsLibraries(o.proc_root);
  sockets.WatchTlsLibraries(o.proc_root);  // a libssl the process dlopens later
  pipeline.Start(&sockets);
  // The pipeline's thread reads the probe's rings: it is joined on every way out of this
  // function before `sockets` (declared after `pipeline`, so destroyed first) unmaps them.
  struct StopPipeline {
    RequestPipeline& pipeline;
    ~StopPipeline() { pipeline.Stop(); }
  } stop_pipeline{pipeline};

  // GPU: libcuda uprobes + CUPTI records of this process, drained on a thread of their own.
  std::unique_ptr<gpu::GpuTracing> gpu;
  std::thread gpu_poller;
  std::atomic<bool> gpu_stop{false};
  // Every return below stops the poller first (a joinable std::thread at scope exit would
  // terminate the process), and before `gpu` it polls goes away.
  struct StopPoller {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~StopPoller() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  } stop_poller{gpu_stop, gpu_poller};
  const int64_t gpu_start_ns = static_cast<int64_t>(MonotonicNs());
  if (std::find(o.profiles.begin(), o.profiles.end(), "gpu") != o.profiles.end()) {
    gpu::GpuOptions go;
    go.proc_root = o.proc_root;
    if (auto sym = profiling::MakeDefaultSymbolizers(); sym) go.aggregator.symbolizer = sym->user;
    auto g = gpu::GpuTracing::Create(*features, *filter, catalog, registry, go);
    if (!g || !(*g)->Attach()) {
      std::fprintf(
          stderr, "zerotrace attach: GPU tracing unavailable: %s\n",
          g ? "no libcuda.so or CUPTI injector mapped by this process" : g.error().message.c_str());
    } else {
      gpu = std::move(g.value());
      for (const auto& w : gpu->warnings()) std::fprintf(stderr, "gpu: %s\n", w.c_str());
      gpu_poller = std::thread([&] {
        while (!gpu_stop) gpu->Poll(100);
      });
    }
  }

  std::fprintf(stderr, "attached to pid %u (%s, service %s) for %.0f s; Ctrl-C stops early\n",
               o.pid, target->comm.c_str(), target->service_name.c_str(),
               std::chrono::duration<double>(o.duration).count());
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + o.duration;
  bool exited = false;
  const bool want_oncpu =
      std::find(o.profiles.begin(), o.profiles.end(), "oncpu") != o.profiles.end();
  const bool want_offcpu =
      std::find(o.profiles.begin(), o.profiles.end(), "offcpu") != o.profiles.end();
  std::optional<profiling::AttachProfilesResult> profiles;
  if (want_oncpu || want_offcpu) {
    // The profiler drives the wait (with its own progress line); requests flow meanwhile.
    profiling::AttachProfilesOptions po;
    po.pids = {o.pid};
    po.duration = o.duration;
    po.oncpu = want_oncpu;
    po.offcpu = want_offcpu;
    po.out_dir = o.out_dir;
    po.progress = &std::cerr;
    po.proc_root = o.proc_root;
    bool stop = false;
    po.stop_requested = [&] {
      timespec zero{0, 0};
      if (!stop) stop = WaitForStop(set, zero);
      return stop;
    };
    auto r = profiling::RunAttachProfiles(po, *features, *filter);
    if (r) {
      profiles = std::move(r.value());
      exited = profiles->target_exited;
    } else if (!catalog.IsAlive(o.pid)) {
      exited = true;  // gone before profiling began: the requests seen so far are the result
    } else {
      std::fprintf(stderr, "zerotrace attach: %s\n", r.error().message.c_str());
      return 1;
    }
  }
  while (!profiles && !exited && std::chrono::steady_clock::now() < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (WaitForStop(set, std::min(left, std::chrono::milliseconds(1000)))) break;
    pipeline.Refresh();
    if (spans) spans->Flush(std::chrono::milliseconds(200));
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    uint64_t requests = 0;
    for (const auto& row : endpoints.Rows()) requests += row.count;
    if (isatty(STDERR_FILENO)) {
      std::fprintf(stderr, "\r  %5.1f s  requests %-8lu socket events %-10lu", elapsed,
                   static_cast<unsigned long>(requests),
                   static_cast<unsigned long>(sockets.events_seen()));
    }
    if (!catalog.IsAlive(o.pid)) {
      exited = true;
      break;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  pipeline.Stop();
  if (spans) spans->Shutdown();
  gpu_stop = true;
  if (gpu_poller.joinable()) gpu_poller.join();
  if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\n");
  if (exited && !profiles) {
    std::fprintf(stderr, "process %u exited after %.1f s; showing what was captured\n", o.pid,
                 seconds);
  }
  if (profiles) {
    for (const auto& w : profiles->warnings) std::fprintf(stderr, "%s\n", w.c_str());
    std::printf("%s", profiles->summary.c_str());
    for (const auto& f : profiles->files) std::printf("wrote %s\n", f.c_str());
  }
  if (gpu) {
    gpu->Poll(0);
    const auto profile = gpu->GpuProfile(o.pid);
    std::printf("\nGPU:\n%s", gpu->Summary(profile).c_str());
    auto files = gpu->WriteFiles(o.out_dir, profile, o.pid, gpu_start_ns);
    if (!files) {
      std::fprintf(stderr, "zerotrace attach: %s\n", files.error().message.c_str());
    } else {
      for (const auto& f : *files) std::printf("wrote %s\n", f.c_str());
    }
  }
  const auto rows = endpoints.Rows();
  std::printf("\nRequests (RED per endpoint) over %.1f s:\n%s", seconds,
              EndpointStats::Table(rows, seconds).c_str());
  if (endpoints.unparsed()) {
    std::printf("(%lu requests could not be parsed)\n",
                static_cast<unsigned long>(endpoints.unparsed()));
  }
  if (sockets.events_lost()) {
    std::printf("warning: %lu socket events were lost (ring buffer full)\n",
                static_cast<unsigned long>(sockets.events_lost()));
  }
  if (!o.summary_json.empty()) {
    std::ofstream out(o.summary_json);
    out << EndpointStats::Json(rows, seconds) << "\n";
    out.close();
    if (!out) {
      std::fprintf(stderr, "zerotrace attach: cannot write --summary-json %s\n",
                   o.summary_json.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace zerotrace
