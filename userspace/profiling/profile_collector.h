#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "core/features.h"
#include "core/result.h"
#include "probes/offcpu_probe.h"
#include "probes/oncpu_probe.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "probes/stack_source.h"
#include "profile/profile.h"
#include "profiling/stack_assembler.h"
#include "symbolizer/caching_symbolizer.h"

namespace zerotrace::profiling {

// Kernel symbols from /proc/kallsyms and user symbols through bcc, behind one shared cache.
// Create once and pass to every collector: the on-CPU and off-CPU profilers then share caches.
Result<Symbolizers> MakeDefaultSymbolizers(const std::string& kallsyms = "/proc/kallsyms",
                                           const std::string& proc_root = "/proc");

// Per-process totals since the last TakeTotals() call (for counters such as
// zerotrace_oncpu_samples_total / zerotrace_offcpu_seconds_total).
struct PidTotal {
  std::string comm;          // name of the process (its main thread's comm)
  uint64_t samples = 0;      // on-CPU samples / off-CPU blocks
  uint64_t nanoseconds = 0;  // on-CPU: samples * period; off-CPU: time blocked
};

// Owns one stack probe (on-CPU or off-CPU) and turns what it counts into symbolized profiles.
// Someone must call Poll() periodically (the daemon's tick, or Record() itself): each poll
// drains the kernel maps and symbolizes at once, while the processes still live. Thread-safe.
class ProfileCollector {
 public:
  using RecordingId = uint64_t;

  // Loads and attaches the probe. `filter` must outlive the collector.
  static Result<std::unique_ptr<ProfileCollector>> CreateOnCpu(Features& features,
                                                               ProcessFilter& filter,
                                                               const OnCpuOptions& options,
                                                               Symbolizers symbolizers);
  static Result<std::unique_ptr<ProfileCollector>> CreateOffCpu(Features& features,
                                                                ProcessFilter& filter,
                                                                const OffCpuOptions& options,
                                                                Symbolizers symbolizers);
  // Any stack source (tests use fakes). `probe` may be null or point into `source`.
  ProfileCollector(std::unique_ptr<StackSource> source, Probe* probe, Symbolizers symbolizers);
  ~ProfileCollector();
  ProfileCollector(const ProfileCollector&) = delete;
  ProfileCollector& operator=(const ProfileCollector&) = delete;

  profile::ProfileType type() const { return source_->profile_type(); }
  // The probe for the daemon's self-metrics (attach mode, program stats, events lost).
  Probe* probe() const { return probe_; }
  // User-stack walks by outcome (StackSource::unwind_walk_stats).
  std::vector<uint64_t> unwind_walk_stats() const { return source_->unwind_walk_stats(); }

  // Drains the kernel, symbolizes, feeds open recordings and the totals; forgets exited
  // processes (one poll after their exit, so their last samples are still resolved).
  Status Poll();

  // A recording collects every sample polled between Start and Stop, for `pids` (empty = all).
  // Both poll first, so a recording covers exactly its own window.
  RecordingId StartRecording(std::set<uint32_t> pids = {});
  profile::Profile StopRecording(RecordingId id);

  // Start, poll every `poll_interval` for `duration` (or until `stop` returns true), Stop.
  // `on_poll` (optional) runs after each poll, e.g. for progress output.
  profile::Profile Record(std::chrono::milliseconds duration, std::set<uint32_t> pids = {},
                          std::chrono::milliseconds poll_interval = std::chrono::seconds(1),
                          const std::function<bool()>& stop = {},
                          const std::function<void()>& on_poll = {});

  // Per-pid totals accumulated since the previous call.
  std::map<uint32_t, PidTotal> TakeTotals();

  // Samples/blocks not counted at all (full maps in the kernel), cumulative.
  uint64_t events_lost() const;
  // Samples counted without (part of) their stack: kernel stack map collisions or a full map,
  // plus ids gone from the map before userspace read them. Cumulative.
  uint64_t stacks_lost() const;
  // Names the root of each stack; default: /proc/PID/comm read once per process, else the
  // comm the kernel recorded. The daemon can plug in its service names here.
  void SetProcessNamer(std::function<std::string(uint32_t pid, const std::string& comm)> namer);
  // Extra labels for every sample of a process (the daemon adds the k8s_* labels); cached per pid.
  void SetProcessLabeler(std::function<std::map<std::string, std::string>(uint32_t pid)> labeler);

 private:
  struct Recording {
    std::set<uint32_t> pids;
    profile::Profile profile;
    std::chrono::steady_clock::time_point started;
  };
  std::string ProcessName(uint32_t pid, const std::string& comm);
  void SweepExited();

  std::unique_ptr<StackSource> source_;
  Probe* probe_;
  Symbolizers symbolizers_;
  StackAssembler assembler_;

  std::mutex poll_mu_;  // serializes Poll(); guards the assembler and names
  std::unordered_map<uint32_t, std::string> names_;
  std::unordered_map<uint32_t, std::map<std::string, std::string>> labels_;
  std::function<std::map<std::string, std::string>(uint32_t)> labeler_;
  std::unordered_set<uint32_t> dying_;
  std::function<std::string(uint32_t, const std::string&)> namer_;

  std::mutex mu_;  // guards recordings and totals
  std::map<RecordingId, Recording> recordings_;
  RecordingId next_id_ = 1;
  std::map<uint32_t, PidTotal> totals_;
};

}  // namespace zerotrace::profiling
