#pragma once

#include "core/result.h"

namespace zerotrace {

// Loading BPF programs needs root or CAP_BPF+CAP_PERFMON (plus CAP_SYS_ADMIN for some map types
// and mounting tracefs). Checked up front so the user gets one actionable message instead of a
// verifier-level EPERM later.
Status CheckBpfPrivileges();

// Raises RLIMIT_MEMLOCK for kernels that still charge BPF memory to it (before 5.11).
void RaiseMemlockLimit();

}  // namespace zerotrace
