#include "profiling/attach_profiles.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include "core/process_alive.h"
#include "flamegraph/folded.h"
#include "flamegraph/pprof.h"
#include "flamegraph/svg.h"
#include "profiling/profile_collector.h"
#include "symbolizer/caching_symbolizer.h"

namespace zerotrace::profiling {
namespace {

using Clock = std::chrono::steady_clock;

std::string FormatValue(profile::ProfileType type, uint64_t value) {
  char buf[64];
  if (type == profile::ProfileType::kOnCpu) {
    std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(value));
  } else {
    std::snprintf(buf, sizeof(buf), "%.3fs", static_cast<double>(value) / 1e9);
  }
  return buf;
}

std::string Percent(uint64_t part, uint64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%5.1f%%",
                whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

std::string Title(profile::ProfileType type) {
  return type == profile::ProfileType::kOnCpu ? "On-CPU" : "Off-CPU";
}

std::string Headline(const profile::Profile& p) {
  const uint64_t total = profile::TotalValue(p);
  std::set<uint32_t> pids;
  for (const auto& s : p.samples) pids.insert(s.pid);
  std::ostringstream out;
  char buf[160];
  if (p.type == profile::ProfileType::kOnCpu) {
    const double cpu_s = static_cast<double>(total) * static_cast<double>(p.period_ns) / 1e9;
    std::snprintf(buf, sizeof(buf), "%s: %llu samples = %.2f s of CPU", Title(p.type).c_str(),
                  static_cast<unsigned long long>(total), cpu_s);
  } else {
    std::snprintf(buf, sizeof(buf), "%s: %.3f s blocked", Title(p.type).c_str(),
                  static_cast<double>(total) / 1e9);
  }
  out << buf << ", " << p.samples.size() << " distinct stacks, " << pids.size()
      << (pids.size() == 1 ? " process" : " processes");
  return out.str();
}

void Table(std::ostringstream& out, const profile::Profile& p, size_t n, profile::TopOrder order) {
  const uint64_t total = profile::TotalValue(p);
  out << "Top " << n << " functions by " << (order == profile::TopOrder::kBySelf ? "self" : "total")
      << ":\n";
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%12s %7s %12s %7s  %s\n", "SELF", "", "TOTAL", "", "FUNCTION");
  out << buf;
  for (const auto& f : profile::TopFunctions(p, n, order)) {
    std::snprintf(buf, sizeof(buf), "%12s %7s %12s %7s  ", FormatValue(p.type, f.self).c_str(),
                  Percent(f.self, total).c_str(), FormatValue(p.type, f.total).c_str(),
                  Percent(f.total, total).c_str());
    out << buf << f.name << (f.kind == profile::FrameKind::kKernel ? " [k]" : "")
        << (f.kind == profile::FrameKind::kJit ? " [j]" : "") << "\n";
  }
}

Status WriteProfileFiles(const profile::Profile& p, const std::string& dir,
                         std::vector<std::string>* files) {
  const std::string base =
      (std::filesystem::path(dir) / std::string(profile::ProfileTypeName(p.type))).string();
  const std::string folded = base + ".folded", svg = base + ".svg", pprof = base + ".pb.gz";
  if (auto s = flamegraph::FoldedWriter::WriteFile(p, folded); !s) return Error{s.message()};
  files->push_back(folded);
  if (auto s = flamegraph::SvgFlamegraphWriter().WriteFile(p, svg); !s) return Error{s.message()};
  files->push_back(svg);
  if (auto s = flamegraph::PprofWriter().WriteFile(p, pprof); !s) return Error{s.message()};
  files->push_back(pprof);
  return Status::Ok();
}

bool AnyAlive(const std::vector<uint32_t>& pids, const std::string& proc_root) {
  for (uint32_t pid : pids) {
    if (ProcessAlive(pid, proc_root)) return true;
  }
  return false;
}

}  // namespace

std::string FormatTopFunctions(const profile::Profile& profile, size_t n) {
  std::ostringstream out;
  out << Headline(profile) << "\n";
  if (profile.samples.empty()) {
    out << "  (nothing captured)\n";
    return out.str();
  }
  Table(out, profile, n, profile::TopOrder::kBySelf);
  Table(out, profile, n, profile::TopOrder::kByTotal);
  return out.str();
}

Status EnsureWritableDirectory(const std::string& dir) {
  if (dir.empty()) return Error{"no output directory given (--out DIR)"};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"--out " + dir + ": cannot create directory: " + ec.message()};
  if (!std::filesystem::is_directory(dir, ec)) return Error{"--out " + dir + ": not a directory"};
  const std::string probe = (std::filesystem::path(dir) / ".zerotrace-write-test").string();
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"--out " + dir + ": cannot write there: " + std::strerror(errno)};
  close(fd);
  unlink(probe.c_str());
  return Status::Ok();
}

Result<AttachProfilesResult> RunAttachProfiles(const AttachProfilesOptions& options,
                                               Features& features, ProcessFilter& filter) {
  if (!options.oncpu && !options.offcpu) return Error{"no profile type selected"};
  if (auto s = EnsureWritableDirectory(options.out_dir); !s) return Error{s.message()};
  for (uint32_t pid : options.pids) {
    if (!ProcessAlive(pid, options.proc_root)) {
      return Error{"no such process: " + std::to_string(pid)};
    }
  }
  if (options.oncpu) {
    if (auto s = ValidateOnCpuOptions(options.oncpu_options); !s) return Error{s.message()};
  }
  if (options.offcpu) {
    if (auto s = ValidateOffCpuOptions(options.offcpu_options); !s) return Error{s.message()};
  }

  auto symbolizers = MakeDefaultSymbolizers("/proc/kallsyms", options.proc_root);
  if (!symbolizers) return symbolizers.error();
  // Snapshot the targets' memory maps and read their binaries' symbols now, while they surely
  // live: a target that exits before the first poll is still symbolized.
  for (uint32_t pid : options.pids) symbolizers->user->Prepare(pid);
  std::vector<std::unique_ptr<ProfileCollector>> collectors;
  if (options.oncpu) {
    auto c = ProfileCollector::CreateOnCpu(features, filter, options.oncpu_options, *symbolizers);
    if (!c) return c.error();
    collectors.push_back(std::move(*c));
  }
  if (options.offcpu) {
    auto c = ProfileCollector::CreateOffCpu(features, filter, options.offcpu_options, *symbolizers);
    if (!c) return c.error();
    collectors.push_back(std::move(*c));
  }

  const std::set<uint32_t> pid_set(options.pids.begin(), options.pids.end());
  std::vector<ProfileCollector::RecordingId> ids;
  for (auto& c : collectors) ids.push_back(c->StartRecording(pid_set));
  if (options.on_recording) options.on_recording();

  AttachProfilesResult result;
  const auto start = Clock::now();
  const auto deadline = start + options.duration;
  auto next_poll = start + options.poll_interval;
  uint64_t oncpu_samples = 0, offcpu_ns = 0;
  std::string target = options.pids.empty() ? "all processes" : "pid";
  for (size_t i = 0; i < options.pids.size(); ++i) {
    target += (i ? "," : " ") + std::to_string(options.pids[i]);
  }
  auto progress = [&](bool final_line) {
    if (!options.progress) return;
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    char buf[200];
    std::snprintf(buf, sizeof(buf), "\rprofiling %s: %.0f/%.0f s", target.c_str(), secs,
                  std::chrono::duration<double>(options.duration).count());
    *options.progress << buf;
    if (options.oncpu) *options.progress << ", " << oncpu_samples << " on-CPU samples";
    if (options.offcpu) {
      std::snprintf(buf, sizeof(buf), ", %.2f s off-CPU", static_cast<double>(offcpu_ns) / 1e9);
      *options.progress << buf;
    }
    *options.progress << (final_line ? "\n" : "   ") << std::flush;
  };

  while (true) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (options.stop_requested && options.stop_requested()) {
      result.warnings.push_back("stopped early; the profiles contain what was captured");
      break;
    }
    if (!options.pids.empty() && !AnyAlive(options.pids, options.proc_root)) {
      result.target_exited = true;
      char buf[160];
      std::snprintf(buf, sizeof(buf),
                    "%s exited after %.1f s; the profiles contain what was captured until then",
                    options.pids.size() == 1
                        ? ("process " + std::to_string(options.pids[0])).c_str()
                        : "all selected processes",
                    std::chrono::duration<double>(now - start).count());
      result.warnings.push_back(buf);
      break;
    }
    if (now >= next_poll) {
      for (auto& c : collectors) {
        if (auto s = c->Poll(); !s) result.warnings.push_back(s.message());
        for (const auto& [pid, t] : c->TakeTotals()) {
          if (c->type() == profile::ProfileType::kOnCpu) {
            oncpu_samples += t.samples;
          } else {
            offcpu_ns += t.nanoseconds;
          }
        }
      }
      progress(false);
      next_poll = now + options.poll_interval;
    }
    std::this_thread::sleep_until(
        std::min({deadline, next_poll, now + std::chrono::milliseconds(100)}));
  }
  for (size_t i = 0; i < collectors.size(); ++i) {
    result.profiles.push_back(collectors[i]->StopRecording(ids[i]));
    for (const auto& [pid, t] : collectors[i]->TakeTotals()) {
      if (collectors[i]->type() == profile::ProfileType::kOnCpu) {
        oncpu_samples += t.samples;
      } else {
        offcpu_ns += t.nanoseconds;
      }
    }
    const std::string type(profile::ProfileTypeName(result.profiles.back().type));
    if (uint64_t lost = collectors[i]->events_lost(); lost > 0) {
      result.warnings.push_back(type + ": " + std::to_string(lost) +
                                " samples could not be counted (kernel map full)");
    }
    if (uint64_t lost = collectors[i]->stacks_lost(); lost > 0) {
      result.warnings.push_back(type + ": " + std::to_string(lost) +
                                " samples were counted without (part of) their stack (stack map "
                                "collisions or full)");
    }
  }
  progress(true);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  collectors.clear();  // detach before the (slow) writing

  std::ostringstream summary;
  for (const auto& p : result.profiles) {
    if (auto s = WriteProfileFiles(p, options.out_dir, &result.files); !s) {
      return Error{"writing the " + std::string(profile::ProfileTypeName(p.type)) + " profile to " +
                   options.out_dir + ": " + s.message()};
    }
    if (p.samples.empty()) {
      result.warnings.push_back(Title(p.type) + ": nothing was captured for " + target);
    }
    summary << FormatTopFunctions(p, options.top_n) << "\n";
  }
  result.summary = summary.str();
  return result;
}

Result<AttachProfilesResult> RunAttachProfiles(const AttachProfilesOptions& options) {
  if (auto s = EnsureWritableDirectory(options.out_dir); !s) return Error{s.message()};
  for (uint32_t pid : options.pids) {
    if (!ProcessAlive(pid, options.proc_root)) {
      return Error{"no such process: " + std::to_string(pid)};
    }
  }
  Features features(MakeKernelFeatureProber());
  ProcessSelection selection;
  selection.pids = options.pids;
  auto filter = ProcessFilter::Create(selection);
  if (!filter) return filter.error();
  return RunAttachProfiles(options, features, *filter);
}

}  // namespace zerotrace::profiling
