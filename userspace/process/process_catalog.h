#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace zerotrace {

// Where a process runs in Kubernetes; empty off Kubernetes.
struct K8sIdentity {
  std::string namespace_name;
  std::string pod_name;
  std::string container_name;
  std::string node_name;
};

struct ProcessInfo {
  uint32_t pid = 0;
  std::string comm;          // /proc/PID/comm
  std::string exe_name;      // basename of /proc/PID/exe
  std::string service_name;  // see ResolveServiceName
  uint64_t start_time = 0;   // /proc/PID/stat field 22: tells a reused pid from the original
  K8sIdentity k8s;
};

// Looks up a process's pod (cgroup → container id → API server names); nullopt off Kubernetes.
using K8sResolver = std::function<std::optional<K8sIdentity>(uint32_t pid)>;

// The k8s_* labels every per-process series carries on Kubernetes (none elsewhere).
std::map<std::string, std::string> K8sLabels(const K8sIdentity& k8s);

// The value of OTEL_SERVICE_NAME in a NUL-separated environment block, if set and non-empty.
std::optional<std::string> OtelServiceName(const std::string& environ_blob);

// design.md §4: OTEL_SERVICE_NAME from the environment, else the hook's answer, else the
// executable's name, else the comm.
std::string ResolveServiceName(const std::string& environ_blob,
                               const std::optional<std::string>& hook_name,
                               const std::string& exe_name, const std::string& comm);

// Process metadata read from /proc, cached per (pid, start time, comm): an exec renames. Entries
// for processes that exited are dropped by Sweep(), so memory follows the live process count, not
// PID churn. A cached entry is trusted for `revalidate_after` (1 s) before its start time is read
// again: a node opening thousands of connections a second would otherwise read /proc/PID/stat for
// each (that was three quarters of the collector's CPU). Where a new process instance is known to
// stand behind a pid (its first connection), LookupFresh() reads the start time regardless.
class ProcessCatalog {
 public:
  static constexpr std::chrono::milliseconds kRevalidateAfter{1000};

  explicit ProcessCatalog(std::string proc_root = "/proc", K8sResolver k8s = nullptr,
                          std::chrono::milliseconds revalidate_after = kRevalidateAfter);

  // Metadata for a live process (or one that exited less than `revalidate_after` after it was
  // last found alive); nullopt once it has exited (callers fall back to the comm the kernel
  // recorded).
  std::optional<ProcessInfo> Lookup(uint32_t pid);
  // The same, but always checks /proc: for a pid that may have just been reused.
  std::optional<ProcessInfo> LookupFresh(uint32_t pid);
  bool IsAlive(uint32_t pid) const;
  // Forgets exited processes; returns their pids so aggregators can drop per-pid state too.
  std::vector<uint32_t> Sweep();
  size_t size() const;

  // Pids of live processes whose comm is `comm` (used for --comm selection at start-up).
  std::vector<uint32_t> FindByComm(const std::string& comm) const;
  // Where /proc is read (a host's /proc mounted elsewhere in a container).
  const std::string& proc_root() const { return proc_root_; }

 private:
  // What tells one process image behind a pid from another, from one read of /proc/PID/stat: the
  // start time tells a reused pid, the comm an exec (execve keeps the start time and sets the
  // comm to the new file's name; a fork's child is named by its parent's environment until it
  // execs). nullopt once the process has exited (gone, or a zombie).
  struct Identity {
    uint64_t start = 0;
    std::string comm;
    bool operator==(const Identity&) const = default;
  };
  std::optional<Identity> ReadIdentity(uint32_t pid) const;
  static bool Matches(const ProcessInfo& info, const Identity& id) {
    return info.start_time == id.start && info.comm == id.comm;
  }
  std::optional<ProcessInfo> Read(uint32_t pid) const;

  std::optional<ProcessInfo> Lookup(uint32_t pid, bool trust_cache);

  std::string proc_root_;
  K8sResolver k8s_;
  std::chrono::milliseconds revalidate_after_;
  mutable std::mutex mu_;
  struct Cached {
    ProcessInfo info;
    std::chrono::steady_clock::time_point validated;  // start time last read and matched
  };
  std::unordered_map<uint32_t, Cached> cache_;
};

}  // namespace zerotrace
