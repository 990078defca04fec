#include "cli/probe_report.h"

#include <fmt/format.h>
#include <sys/utsname.h>

#include <algorithm>
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

const ProbeCheck* Find(const std::vector<ProbeCheck>& checks, const std::string& probe) {
  for (const auto& c : checks) {
    if (c.probe == probe) return &c;
  }
  return nullptr;
}

// One thing a user expects, and whether this kernel gives it, with the reason when not.
struct Capability {
  std::string what;
  bool yes = false;
  std::string why;
};

std::string LoadedOrWhy(const ProbeCheck* c, const std::string& probe) {
  if (!c) return "the " + probe + " probe was not loaded (run `zerotrace probe` as root)";
  return c->error;
}

std::vector<Capability> Capabilities(Features& f, const std::vector<ProbeCheck>& checks) {
  std::vector<Capability> out;
  auto loaded = [&](const char* probe) {
    const ProbeCheck* c = Find(checks, probe);
    return c && c->loaded;
  };
  // `why_not`: what the kernel lacks for this even when the probe loaded; `how`: the mechanism
  // named when it works (default: the probe's attach path).
  auto add = [&](std::string what, const char* probe, std::string why_not = {},
                 std::string how = {}) {
    const ProbeCheck* c = Find(checks, probe);
    Capability cap{std::move(what), loaded(probe) && why_not.empty(), {}};
    if (cap.yes) {
      cap.why = "via " + (how.empty() ? c->mode : how);
    } else {
      cap.why = loaded(probe) ? why_not : LoadedOrWhy(c, probe);
    }
    out.push_back(std::move(cap));
  };
  add("syscall counts, errors and latency per service", "syscalls");
  add("HTTP/1, HTTP/2 and gRPC RED metrics and spans (cleartext)", "sockets");
  add("the same over OpenSSL TLS (uprobes on libssl)", "sockets",
      f.Has(Feature::kUprobe) ? "" : "no uprobes: " + f.Answer(Feature::kUprobe).detail, "uprobes");
  add("HTTP/2 and gRPC headers in reads/writes larger than the capture size", "sockets",
      f.Has(Feature::kBpfLoop)
          ? ""
          : "needs bpf_loop() (Linux 5.17+): frames past the first capture of such a call are "
            "not followed; a gRPC status or header there is missed",
      "bpf_loop frame following");
  add("socket I/O traced without a program on every syscall (lowest overhead)", "sockets",
      f.Has(Feature::kSockTracepoints)
          ? ""
          : "needs the sock:sock_{send,recv}_length tracepoints (Linux 6.3+): a program runs on "
            "every syscall exit of the host instead (more overhead on busy hosts)");
  add("traceparent inserted into outgoing HTTP/1 requests (otlp.propagate_traceparent)",
      "propagation");
  add("on-CPU flamegraphs", "oncpu");
  add("off-CPU (blocked time) flamegraphs", "offcpu");
  add("CUDA launches, memory and syncs (libcuda uprobes)", "cuda");
  add("GPU kernel and memcpy timings (CUPTI injection library)", "cupti", "",
      f.Has(Feature::kBpfCookie) ? "usdt" : "usdt, attached per process (no BPF cookies)");
  return out;
}

std::string Budget(const ProbeCheck& c) {
  uint64_t insns = 0;
  uint32_t stack = 0;
  for (const auto& p : c.programs) {
    insns = std::max(insns, p.insns_processed);
    stack = std::max(stack, p.combined_stack());
  }
  if (c.programs.empty()) return "";
  return fmt::format("max {} insns processed, max stack {} B", insns, stack);
}

}  // namespace

std::string ProbeReportTable(Features& features, const std::vector<ProbeCheck>& checks) {
  std::string out = fmt::format("kernel {}\n\n", Kernel());
  if (!checks.empty()) {
    out += "WHAT YOU GET ON THIS KERNEL\n";
    for (const auto& c : Capabilities(features, checks)) {
      out += fmt::format("  {:<4} {}{}\n", c.yes ? "yes" : "no", c.what,
                         c.why.empty() ? "" : " (" + c.why + ")");
    }
    out += "\n";
  }
  out += fmt::format("{:<16} {:<10} {}\n", "FEATURE", "SUPPORTED", "DETAIL");
  for (int i = 0; i < static_cast<int>(Feature::kCount); ++i) {
    auto f = static_cast<Feature>(i);
    const auto& a = features.Answer(f);
    out += fmt::format("{:<16} {:<10} {}\n", FeatureName(f), a.supported ? "yes" : "no", a.detail);
  }
  out += fmt::format("\n{:<16} {:<16} {}\n", "PROBE", "ATTACH PATH", "NOTE");
  for (const auto& p : ProbePaths(features)) {
    out += fmt::format("{:<16} {:<16} {}\n", p.probe, p.mode, p.note);
  }
  if (!checks.empty()) {
    out += fmt::format("\n{:<10} {:<8} {:<18} {}\n", "LOADED", "RESULT", "PATH TAKEN", "DETAIL");
    for (const auto& c : checks) {
      out += fmt::format("{:<10} {:<8} {:<18} {}\n", c.probe, c.loaded ? "loaded" : "FAILED",
                         c.mode, c.loaded ? Budget(c) : c.error);
    }
  }
  return out;
}

std::string ProbeReportJson(Features& features, const std::vector<ProbeCheck>& checks) {
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
  if (!checks.empty()) {
    for (const auto& c : Capabilities(features, checks)) {
      j["capabilities"].push_back({{"what", c.what}, {"available", c.yes}, {"detail", c.why}});
    }
    for (const auto& c : checks) {
      nlohmann::json programs = nlohmann::json::array();
      for (const auto& p : c.programs) {
        programs.push_back({{"program", p.program},
                            {"insns_processed", p.insns_processed},
                            {"insn_limit", p.insn_limit},
                            {"stack_depths", p.stack_depths},
                            {"combined_stack", p.combined_stack()}});
      }
      j["loads"][c.probe] = {
          {"loaded", c.loaded}, {"mode", c.mode}, {"error", c.error}, {"programs", programs}};
    }
  }
  return j.dump(2) + "\n";
}

}  // namespace zerotrace
