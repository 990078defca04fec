#include "cli/probe_report.h"

#include <fmt/format.h>
#include <sys/utsname.h>

#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "probes/offcpu_probe.h"
#include "probes/sockets_probe.h"
#include "probes/syscall_probe.h"

namespace zerotrace {
namespace {

struct ProbePath {
  std::string probe;
  std::string mode;
  std::string note;
};

std::vector<ProbePath> ProbePaths(Features& f) {
  std::vector<ProbePath> out;
  auto syscalls = ChooseSyscallAttachMode(f);
  out.push_back({"syscalls", AttachModeName(syscalls),
                 syscalls == SyscallAttachMode::kRawTracepoint
                     ? "raw_syscalls sys_enter/sys_exit via raw_tp"
                     : "raw_syscalls sys_enter/sys_exit tracepoints"});
  const auto sockets = ChooseSocketsAttachMode(f);
  out.push_back({"sockets", AttachModeName(sockets), AttachModeHooks(sockets)});
  const bool uprobes = f.Has(Feature::kUprobe);
  out.push_back({"tls", uprobes ? "uprobe" : "unavailable",
                 "SSL_read/SSL_write(_ex) in every libssl.so a traced process maps"});
  out.push_back({"oncpu", f.Has(Feature::kPerfEvent) ? "perf_event" : "unavailable",
                 "software cpu-clock sampling per CPU, kernel+user stacks"});
  const auto offcpu = ChooseOffCpuAttachMode(f);
  out.push_back({"offcpu", AttachModeName(offcpu), "sched/sched_switch, blocked time per stack"});
  out.push_back({"cuda", uprobes ? "uprobe" : "unavailable",
                 "cuLaunchKernel, cuMemAlloc/Free, cuMemcpy*, *Synchronize in libcuda.so.1"});
  out.push_back({"cupti", uprobes ? "usdt" : "unavailable",
                 "USDT probes of libzerotrace_cupti.so (CUDA_INJECTION64_PATH)"});
  return out;
}

std::string Kernel() {
  utsname u{};
  uname(&u);
  return std::string(u.release);
}

}  // namespace

std::string ProbeReportTable(Features& features) {
  std::string out =
      fmt::format("kernel {}\n\n{:<16} {:<10} {}\n", Kernel(), "FEATURE", "SUPPORTED", "DETAIL");
  for (int i = 0; i < static_cast<int>(Feature::kCount); ++i) {
    auto f = static_cast<Feature>(i);
    const auto& a = features.Answer(f);
    out += fmt::format("{:<16} {:<10} {}\n", FeatureName(f), a.supported ? "yes" : "no", a.detail);
  }
  out += fmt::format("\n{:<16} {:<16} {}\n", "PROBE", "ATTACH PATH", "NOTE");
  for (const auto& p : ProbePaths(features)) {
    out += fmt::format("{:<16} {:<16} {}\n", p.probe, p.mode, p.note);
  }
  return out;
}

std::string ProbeReportJson(Features& features) {
  nlohmann::json j;
  j["kernel"] = Kernel();
  for (int i = 0; i < static_cast<int>(Feature::kCount); ++i) {
    auto f = static_cast<Feature>(i);
    const auto& a = features.Answer(f);
    j["features"][FeatureName(f)] = {{"supported", a.supported}, {"detail", a.detail}};
  }
  for (const auto& p : ProbePaths(features)) {
    j["probes"][p.probe] = {{"mode", p.mode}, {"note", p.note}};
  }
  return j.dump(2) + "\n";
}

}  // namespace zerotrace
