#include "core/privileges.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace zerotrace {
namespace {

#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif

bool HasEffectiveCap(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

}  // namespace

Status CheckBpfPrivileges() {
  if (geteuid() == 0 && HasEffectiveCap(CAP_SYS_ADMIN)) return Status::Ok();
  const bool bpf = HasEffectiveCap(CAP_BPF) || HasEffectiveCap(CAP_SYS_ADMIN);
  const bool perfmon = HasEffectiveCap(CAP_PERFMON) || HasEffectiveCap(CAP_SYS_ADMIN);
  if (bpf && perfmon) return Status::Ok();
  return Error{
      "zerotrace needs root, or the capabilities CAP_BPF and CAP_PERFMON (plus CAP_SYS_ADMIN to "
      "mount tracefs and CAP_SYS_PTRACE to read other processes): run it with sudo, or in "
      "Kubernetes use deploy/kubernetes (privileged or the capability variant)"};
}

void RaiseMemlockLimit() {
  rlimit r{RLIM_INFINITY, RLIM_INFINITY};
  setrlimit(RLIMIT_MEMLOCK, &r);  // best effort: newer kernels use memcg accounting instead
}

}  // namespace zerotrace
