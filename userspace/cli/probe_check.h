#pragma once

#include <string>
#include <vector>

#include "core/features.h"
#include "probes/bpf_load.h"

namespace zerotrace {

// The outcome of really loading (and attaching, for a moment) one probe on this kernel: the only
// honest answer to "will I get this here?", since a kernel can have every feature a probe asks
// for and still refuse its programs.
struct ProbeCheck {
  std::string probe;
  bool loaded = false;
  std::string mode;   // the attach path it took
  std::string error;  // why not, in the kernel's words
  std::vector<VerifierStats> programs;
};

// Loads each probe in turn (syscalls, sockets, propagation, oncpu, offcpu, cuda, cupti) with the
// verifier's statistics recorded. Needs root (CAP_BPF/CAP_PERFMON).
std::vector<ProbeCheck> CheckProbes(Features& features);

}  // namespace zerotrace
