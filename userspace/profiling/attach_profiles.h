#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/features.h"
#include "core/result.h"
#include "probes/offcpu_probe.h"
#include "probes/oncpu_probe.h"
#include "probes/process_filter.h"
#include "profile/profile.h"

namespace zerotrace::profiling {

// Everything `zerotrace attach --profile oncpu,offcpu` does except parsing its arguments.
struct AttachProfilesOptions {
  std::vector<uint32_t> pids;  // empty = every process on the host
  std::chrono::milliseconds duration{std::chrono::seconds(30)};
  bool oncpu = true;
  bool offcpu = true;
  std::string out_dir;  // created if missing; files: {oncpu,offcpu}.{folded,svg,pb.gz}
  OnCpuOptions oncpu_options;
  OffCpuOptions offcpu_options;
  size_t top_n = 15;  // rows of each summary table
  std::chrono::milliseconds poll_interval{std::chrono::seconds(1)};
  // Progress ("profiling pid 42: 12/30 s, 588 on-CPU samples, 3.1 s off-CPU") is rewritten in
  // place on this stream while it runs; nullptr = quiet.
  std::ostream* progress = nullptr;
  // Checked every 100 ms; return true to stop early (SIGINT) and still write what was captured.
  std::function<bool()> stop_requested;
  // Called once, when the profilers are attached and recording.
  std::function<void()> on_recording;
  std::string proc_root = "/proc";
};

struct AttachProfilesResult {
  std::vector<profile::Profile> profiles;  // in the order on-CPU, off-CPU (those requested)
  std::vector<std::string> files;          // paths written
  std::string summary;                     // the top-N tables, ready to print
  // Things the user should know that are not errors, e.g. "process 42 exited after 4.2 s;
  // the profiles contain what was captured until then".
  std::vector<std::string> warnings;
  std::chrono::milliseconds elapsed{0};
  bool target_exited = false;  // every selected pid exited before the duration was up
};

// Checks the output directory (created if missing, must be writable) and the pids (must exist)
// first, so bad input fails before anything is loaded; then attaches the requested probes,
// records for `duration` (stopping early once every selected process has exited), writes the
// files and builds the summary. Errors name what to fix ("--out /x: Permission denied",
// "no such process: 42").
Result<AttachProfilesResult> RunAttachProfiles(const AttachProfilesOptions& options,
                                               Features& features, ProcessFilter& filter);
// Same, with its own feature probe and a process filter built from options.pids.
Result<AttachProfilesResult> RunAttachProfiles(const AttachProfilesOptions& options);

// The summary tables for one profile: top `n` functions by self and by total.
std::string FormatTopFunctions(const profile::Profile& profile, size_t n);

// Checks `dir` can hold our files: creates it (with parents) and writes and removes a probe file.
Status EnsureWritableDirectory(const std::string& dir);

}  // namespace zerotrace::profiling
