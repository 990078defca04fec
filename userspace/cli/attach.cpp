#include "cli/attach.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>

#include "aggregators/endpoint_stats.h"
#include "cli/daemon.h"
#include "core/clock.h"
#include "core/privileges.h"
#include "core/tracefs.h"
#include "probes/process_filter.h"
#include "process/process_catalog.h"
#include "profiling/attach_profiles.h"
#include "sources/gpu_source.h"
#include "sources/registry.h"
#include "sources/sockets_source.h"
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

// Written to a temporary name and renamed, so a waiter never sees a half-written file.
Status WriteReadyFile(const std::string& path, uint32_t pid) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << pid << "\n";
    if (!out) return Error{"cannot write " + tmp + ": " + std::strerror(errno)};
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return Error{"cannot rename " + tmp + ": " + std::strerror(errno)};
  }
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
  if (!o.spans_file.empty() && o.spans_file != "-" && !std::ofstream(o.spans_file, std::ios::app)) {
    std::fprintf(stderr, "zerotrace attach: cannot write --spans %s: %s\n", o.spans_file.c_str(),
                 std::strerror(errno));
    return 2;
  }
  if (!o.ready_file.empty()) {
    unlink(o.ready_file.c_str());  // a stale one would tell a waiter to start too early
    if (auto s = WriteReadyFile(o.ready_file + ".check", o.pid); !s) {
      std::fprintf(stderr, "zerotrace attach: --ready-file: %s\n", s.message().c_str());
      return 2;
    }
    unlink((o.ready_file + ".check").c_str());
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
  // `attach` is `run` narrowed to one process, for a window, with a report at the end: the same
  // sources from the same registry (sources/registry.cpp). The profilers are the exception: the
  // window's profile is recorded by RunAttachProfiles below, which also drives the wait.
  Config config;
  config.proc_root = o.proc_root;
  config.select.pids = {o.pid};
  const bool want_gpu = std::find(o.profiles.begin(), o.profiles.end(), "gpu") != o.profiles.end();
  config.probes.syscalls = false;
  config.probes.oncpu = false;
  config.probes.offcpu = false;
  config.probes.cuda = want_gpu;
  config.probes.cupti = want_gpu;
  config.otlp.file = o.spans_file;
  auto filter = ProcessFilter::Create(config.select);
  if (!filter) {
    std::fprintf(stderr, "zerotrace attach: %s\n", filter.error().message.c_str());
    return 1;
  }
  prometheus::Registry registry;
  EndpointStats endpoints;
  const int64_t gpu_start_ns = static_cast<int64_t>(MonotonicNs());
  // Declared after everything the sources use: on every way out they stop first (the request
  // pipeline's thread reads the sockets probe's rings, the GPU poller its own) and then detach.
  SourceSet sources =
      SourceSet::Start({config, *features, *filter, catalog, registry, {&endpoints}});
  auto* sockets = sources.Find<SocketsSource>();
  for (const auto& p : sockets->probes()) {
    if (!p.attached) {
      std::fprintf(stderr, "zerotrace attach: %s\n", p.error.c_str());
      return 1;
    }
  }
  tracing::SpanPipeline* spans = sockets->spans();
  if (!o.spans_file.empty() && !spans) {
    std::fprintf(stderr, "zerotrace attach: --spans %s: cannot write spans there (see above)\n",
                 o.spans_file.c_str());
    return 2;
  }
  gpu::GpuTracing* gpu = nullptr;
  if (auto* g = sources.Find<GpuSource>()) {
    gpu = g->tracing();
    if (!gpu) {  // (its warnings, when it runs, were logged as it started)
      std::fprintf(stderr, "zerotrace attach: GPU tracing unavailable: %s\n",
                   g->probes().front().error.c_str());
    }
  }

  std::fprintf(stderr, "attached to pid %u (%s, service %s) for %.0f s; Ctrl-C stops early\n",
               o.pid, target->comm.c_str(), target->service_name.c_str(),
               std::chrono::duration<double>(o.duration).count());
  auto mark_ready = [&] {
    if (o.ready_file.empty()) return;
    if (auto s = WriteReadyFile(o.ready_file, o.pid); !s) {
      std::fprintf(stderr, "zerotrace attach: --ready-file: %s\n", s.message().c_str());
    }
  };
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
    po.oncpu_options.cfi_unwind = po.offcpu_options.cfi_unwind = o.unwind == "cfi";
    bool stop = false;
    po.stop_requested = [&] {
      timespec zero{0, 0};
      if (!stop) stop = WaitForStop(set, zero);
      return stop;
    };
    po.on_recording = mark_ready;  // the profilers load first
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
  if (!want_oncpu && !want_offcpu) mark_ready();
  while (!profiles && !exited && std::chrono::steady_clock::now() < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (WaitForStop(set, std::min(left, std::chrono::milliseconds(1000)))) break;
    sockets->Refresh();
    if (spans) spans->Flush(std::chrono::milliseconds(200));
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    uint64_t requests = 0;
    for (const auto& row : endpoints.Rows()) requests += row.count;
    if (isatty(STDERR_FILENO)) {
      std::fprintf(stderr, "\r  %5.1f s  requests %-8lu socket events %-10lu", elapsed,
                   static_cast<unsigned long>(requests),
                   static_cast<unsigned long>(sockets->probe().events_seen()));
    }
    if (!catalog.IsAlive(o.pid)) {
      exited = true;
      break;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sources.Stop();  // what the kernel recorded until now is read (within 200 ms), spans flushed
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
  if (const uint64_t lost = sockets->probe().events_lost()) {
    std::printf("warning: %lu socket events were lost (ring buffer full)\n",
                static_cast<unsigned long>(lost));
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
