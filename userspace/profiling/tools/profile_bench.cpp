// zt_profile_bench: profiles every process for a while, the way the daemon would (a poll and
// symbolization every second), then prints what the profiler itself cost: its own user+system
// CPU and the kernel-side run time of its BPF programs, as a share of one core.
//   zt_profile_bench [--hz N] [--seconds S] [--profile oncpu|offcpu|both]
#include <bpf/bpf.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "probes/bpf_util.h"
#include "profiling/profile_collector.h"

namespace {

double CpuSeconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

int Usage() {
  std::fprintf(stderr,
               "usage: zt_profile_bench [--hz N] [--seconds S] [--profile oncpu|offcpu|both]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zerotrace;
  uint32_t hz = 49;
  int seconds = 60;
  std::string which = "oncpu";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    if (a == "--hz") {
      hz = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else if (a == "--seconds") {
      seconds = std::atoi(argv[++i]);
    } else if (a == "--profile") {
      which = argv[++i];
    } else {
      return Usage();
    }
  }
  const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0)
    std::fprintf(stderr, "warning: BPF run-time stats unavailable: %s\n", std::strerror(errno));

  Features features(MakeKernelFeatureProber());
  auto filter = ProcessFilter::Create({});
  if (!filter) {
    std::fprintf(stderr, "error: %s\n", filter.error().message.c_str());
    return 1;
  }
  auto syms = profiling::MakeDefaultSymbolizers();
  if (!syms) {
    std::fprintf(stderr, "error: %s\n", syms.error().message.c_str());
    return 1;
  }
  std::vector<std::unique_ptr<profiling::ProfileCollector>> collectors;
  if (which == "oncpu" || which == "both") {
    OnCpuOptions o;
    o.frequency_hz = hz;
    auto c = profiling::ProfileCollector::CreateOnCpu(features, *filter, o, *syms);
    if (!c) {
      std::fprintf(stderr, "error: %s\n", c.error().message.c_str());
      return 1;
    }
    collectors.push_back(std::move(*c));
  }
  if (which == "offcpu" || which == "both") {
    auto c = profiling::ProfileCollector::CreateOffCpu(features, *filter, {}, *syms);
    if (!c) {
      std::fprintf(stderr, "error: %s\n", c.error().message.c_str());
      return 1;
    }
    collectors.push_back(std::move(*c));
  }
  if (collectors.empty()) return Usage();

  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto start = std::chrono::steady_clock::now();
  std::vector<profiling::ProfileCollector::RecordingId> ids;
  for (auto& c : collectors) ids.push_back(c->StartRecording());
  uint64_t oncpu_samples = 0;
  double offcpu_s = 0;
  for (int s = 0; s < seconds; ++s) {
    std::this_thread::sleep_until(start + std::chrono::seconds(s + 1));
    for (auto& c : collectors) {
      (void)c->Poll();
      for (const auto& [pid, t] : c->TakeTotals()) {
        if (c->type() == profile::ProfileType::kOnCpu) {
          oncpu_samples += t.samples;
        } else {
          offcpu_s += static_cast<double>(t.nanoseconds) / 1e9;
        }
      }
    }
  }
  size_t stacks = 0;
  for (size_t i = 0; i < collectors.size(); ++i) {
    stacks += collectors[i]->StopRecording(ids[i]).samples.size();
  }
  getrusage(RUSAGE_SELF, &after);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double user = CpuSeconds(after.ru_utime) - CpuSeconds(before.ru_utime);
  const double sys = CpuSeconds(after.ru_stime) - CpuSeconds(before.ru_stime);
  double bpf_s = 0;
  uint64_t bpf_runs = 0;
  for (auto& c : collectors) {
    for (const auto& st : ReadProgramStats(c->probe()->object())) {
      bpf_s += static_cast<double>(st.run_time_ns) / 1e9;
      bpf_runs += st.run_count;
    }
  }
  uint64_t lost = 0;
  for (auto& c : collectors) lost += c->events_lost() + c->stacks_lost();
  std::printf("profile=%s hz=%u wall=%.1fs cpus=%ld\n", which.c_str(), hz, wall,
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("  userspace: user=%.3fs sys=%.3fs -> %.3f%% of one core\n", user, sys,
              100.0 * (user + sys) / wall);
  std::printf("  bpf programs: %.3fs over %llu runs (%.0f ns/run) -> %.3f%% of one core\n", bpf_s,
              static_cast<unsigned long long>(bpf_runs),
              bpf_runs ? bpf_s * 1e9 / static_cast<double>(bpf_runs) : 0.0, 100.0 * bpf_s / wall);
  std::printf("  total: %.3f%% of one core\n", 100.0 * (user + sys + bpf_s) / wall);
  std::printf("  on-CPU samples=%llu off-CPU=%.1fs distinct stacks=%zu lost=%llu\n",
              static_cast<unsigned long long>(oncpu_samples), offcpu_s, stacks,
              static_cast<unsigned long long>(lost));
  if (stats_fd >= 0) close(stats_fd);
  return 0;
}
