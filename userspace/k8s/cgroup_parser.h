// CgroupParser: derive the container id and Kubernetes pod UID of a process from /proc/PID/cgroup.
//
// Handles cgroup v1 (one line per hierarchy) and v2 (`0::/path`), the cgroupfs and systemd cgroup
// drivers, and the containerd, CRI-O, Docker and Podman naming schemes:
//   systemd:
//   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/
//            cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
//   cgroupfs: /kubepods/besteffort/pod<uid>/<id>, /kubepods/pod<uid>/<id> (Guaranteed QoS)
//   kind / containerd systemd driver on v1:
//   .../kubepods-besteffort-pod<uid>.slice:cri-containerd:<id> plain Docker: /docker/<id>,
//   /system.slice/docker-<id>.scope
// Pure string parsing: no I/O except ReadPid(), so it is cheap to unit test.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zerotrace::k8s {

enum class ContainerRuntime { kUnknown, kContainerd, kCrio, kDocker, kPodman };
enum class QosClass { kUnknown, kGuaranteed, kBurstable, kBestEffort };

const char* ToString(ContainerRuntime r);
const char* ToString(QosClass q);

struct CgroupInfo {
  std::string container_id;  // lower-case hex (64 chars for all supported runtimes); empty if none
  std::string pod_uid;       // dashed form (systemd's '_' converted to '-'); empty if not a pod
  ContainerRuntime runtime = ContainerRuntime::kUnknown;
  QosClass qos = QosClass::kUnknown;  // only meaningful when pod_uid is set
  bool cgroup_v2 = false;             // the info came from the unified (`0::`) line
  std::string cgroup_path;            // the path the info was taken from

  bool in_container() const { return !container_id.empty(); }
  bool in_pod() const { return !pod_uid.empty(); }
};

class CgroupParser {
 public:
  // Parses the full text of /proc/PID/cgroup. Returns nullopt when no line names a container or a
  // pod (host processes, or a cgroup namespace that hides the path). With cgroup v1 the line that
  // yields the most information wins (container id + pod UID over either alone).
  static std::optional<CgroupInfo> Parse(std::string_view proc_pid_cgroup);

  // Parses a single cgroup path such as "/kubepods.slice/.../cri-containerd-<id>.scope".
  static std::optional<CgroupInfo> ParsePath(std::string_view cgroup_path);

  // Reads <proc_root>/<pid>/cgroup and parses it. proc_root is "/proc" on the host, or the host's
  // /proc mounted into the collector container (e.g. "/host/proc").
  static std::optional<CgroupInfo> ReadPid(int pid, const std::string& proc_root = "/proc");

  // True for a 64-char lower/upper-case hex string.
  static bool IsContainerId(std::string_view s);
  // True for a Kubernetes pod UID: a 36-char UUID (dashes or systemd underscores) or the 32-char
  // hex hash that the kubelet uses for static/mirror pods.
  static bool IsPodUid(std::string_view s);
};

}  // namespace zerotrace::k8s
