#include "cli/probe_check.h"

#include <unistd.h>

#include <functional>
#include <memory>

#include "probes/cuda_probe.h"
#include "probes/cupti_probe.h"
#include "probes/offcpu_probe.h"
#include "probes/oncpu_probe.h"
#include "probes/propagation_probe.h"
#include "probes/sockets_probe.h"
#include "probes/syscall_probe.h"

namespace zerotrace {
namespace {

ProbeCheck Check(const std::string& name, const std::function<std::unique_ptr<Probe>()>& make) {
  ProbeCheck c;
  c.probe = name;
  TakeVerifierStats();
  SetVerifierStatsRecording(true);
  std::unique_ptr<Probe> probe = make();
  Status s = probe->Attach();
  SetVerifierStatsRecording(false);
  c.programs = TakeVerifierStats();
  c.loaded = s.ok();
  c.mode = probe->attach_mode();
  probe.reset();
  if (!s.ok()) {
    // With statistics on, the kernel's log holds no reason: load once more without them.
    std::unique_ptr<Probe> again = make();
    Status s2 = again->Attach();
    c.error = s2.ok() ? s.message() : s2.message();
  }
  return c;
}

}  // namespace

std::vector<ProbeCheck> CheckProbes(Features& features) {
  std::vector<ProbeCheck> out;
  auto filter = ProcessFilter::Create(ProcessSelection{});
  if (!filter) {
    ProbeCheck c;
    c.probe = "all";
    c.error = filter.error().message;
    out.push_back(c);
    return out;
  }
  ProcessFilter& f = *filter;
  out.push_back(Check("syscalls", [&] { return std::make_unique<SyscallProbe>(features, f); }));
  out.push_back(Check("sockets", [&] {
    SocketsProbeOptions o;
    o.self_tgid = static_cast<uint32_t>(getpid());
    // Small rings: this only proves the programs load. With the propagation's thread context
    // on, as the largest programs it can run (it only fills maps no sk_msg program reads here).
    o.ring_buffer_bytes = 2 * 1024 * 1024;
    o.propagate = true;
    return std::make_unique<SocketsProbe>(features, f, o,
                                          [](const sock_event_header&, const uint8_t*) {});
  }));
  out.push_back(Check("propagation", [&] {
    PropagationProbeOptions o;
    o.self_tgid = static_cast<uint32_t>(getpid());
    // Loaded only, with maps of its own: proves the verifier takes the programs without
    // touching any request on this host.
    o.load_only = true;
    return std::make_unique<PropagationProbe>(features, f, nullptr, o);
  }));
  out.push_back(Check("oncpu", [&] { return std::make_unique<OnCpuProbe>(features, f); }));
  out.push_back(Check("offcpu", [&] { return std::make_unique<OffCpuProbe>(features, f); }));
  out.push_back(Check("cuda", [&] {
    gpu::CudaProbeOptions o;
    o.scan_processes = false;
    return std::make_unique<gpu::CudaProbe>(features, f, o, [](const void*, size_t) {});
  }));
  out.push_back(Check("cupti", [&] {
    gpu::CuptiProbeOptions o;
    o.scan_processes = false;
    return std::make_unique<gpu::CuptiProbe>(features, f, o, [](const void*, size_t) {});
  }));
  return out;
}

}  // namespace zerotrace
