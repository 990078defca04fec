#include "k8s/cgroup_parser.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

namespace zerotrace::k8s {

const char* ToString(ContainerRuntime r) {
  switch (r) {
    case ContainerRuntime::kContainerd:
      return "containerd";
    case ContainerRuntime::kCrio:
      return "cri-o";
    case ContainerRuntime::kDocker:
      return "docker";
    case ContainerRuntime::kPodman:
      return "podman";
    case ContainerRuntime::kUnknown:
      break;
  }
  return "unknown";
}

const char* ToString(QosClass q) {
  switch (q) {
    case QosClass::kGuaranteed:
      return "Guaranteed";
    case QosClass::kBurstable:
      return "Burstable";
    case QosClass::kBestEffort:
      return "BestEffort";
    case QosClass::kUnknown:
      break;
  }
  return "unknown";
}

namespace {

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string normalize_uid(std::string_view s) {
  std::string out = lower(s);
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) pos = s.size();
    if (pos > start) out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

struct ScopePrefix {
  std::string_view prefix;
  ContainerRuntime runtime;
};
// "crio-conmon-" is filtered before this table is consulted.
constexpr ScopePrefix kScopePrefixes[] = {
    {"cri-containerd-", ContainerRuntime::kContainerd},
    {"crio-", ContainerRuntime::kCrio},
    {"docker-", ContainerRuntime::kDocker},
    {"libpod-", ContainerRuntime::kPodman},
};

// Slice component "kubepods-burstable-pod<uid>.slice" (or the ':'-joined kind form).
void parse_slice(std::string_view comp, CgroupInfo& info) {
  std::string_view base = comp.substr(0, comp.size() - 6);  // drop ".slice"
  if (base == "kubepods-besteffort") info.qos = QosClass::kBestEffort;
  if (base == "kubepods-burstable") info.qos = QosClass::kBurstable;
  size_t pos = base.rfind("-pod");
  if (pos == std::string_view::npos || !starts_with(base, "kubepods")) return;
  std::string_view qos = base.substr(0, pos);
  if (qos == "kubepods-besteffort") info.qos = QosClass::kBestEffort;
  if (qos == "kubepods-burstable") info.qos = QosClass::kBurstable;
  std::string_view uid = base.substr(pos + 4);
  if (CgroupParser::IsPodUid(uid)) info.pod_uid = normalize_uid(uid);
}

// Scope component "cri-containerd-<id>.scope" (".scope" already removed).
void parse_scope(std::string_view base, CgroupInfo& info) {
  if (starts_with(base, "crio-conmon-")) return;  // CRI-O's monitor process, not the container
  for (const auto& p : kScopePrefixes) {
    if (!starts_with(base, p.prefix)) continue;
    std::string_view id = base.substr(p.prefix.size());
    if (CgroupParser::IsContainerId(id)) {
      info.container_id = lower(id);
      info.runtime = p.runtime;
    }
    return;
  }
}

}  // namespace

bool CgroupParser::IsContainerId(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), is_hex);
}

bool CgroupParser::IsPodUid(std::string_view s) {
  if (s.size() == 32) return std::all_of(s.begin(), s.end(), is_hex);
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool sep_pos = (i == 8 || i == 13 || i == 18 || i == 23);
    if (sep_pos) {
      if (s[i] != '-' && s[i] != '_') return false;
    } else if (!is_hex(s[i])) {
      return false;
    }
  }
  return true;
}

std::optional<CgroupInfo> CgroupParser::ParsePath(std::string_view path) {
  CgroupInfo info;
  info.cgroup_path = std::string(path);
  bool under_kubepods = false;
  bool prev_was_pod = false;
  bool prev_was_docker = false;
  for (std::string_view comp : split(path, '/')) {
    const bool was_pod = prev_was_pod;
    const bool was_docker = prev_was_docker;
    prev_was_pod = prev_was_docker = false;

    // kind / containerd with the systemd driver on cgroup v1:
    // "kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>"
    if (comp.find(':') != std::string_view::npos) {
      auto parts = split(comp, ':');
      if (parts.size() == 3 && ends_with(parts[0], ".slice")) {
        parse_slice(parts[0], info);
        std::string scope = std::string(parts[1]) + "-" + std::string(parts[2]);
        parse_scope(scope, info);
        under_kubepods = true;
      }
      continue;
    }
    if (comp == "kubepods" || comp == "kubepods.slice") {
      under_kubepods = true;
      continue;
    }
    if (under_kubepods && (comp == "besteffort" || comp == "burstable")) {
      info.qos = comp == "besteffort" ? QosClass::kBestEffort : QosClass::kBurstable;
      continue;
    }
    if (ends_with(comp, ".slice")) {
      if (starts_with(comp, "kubepods")) under_kubepods = true;
      parse_slice(comp, info);
      continue;
    }
    if (ends_with(comp, ".scope")) {
      parse_scope(comp.substr(0, comp.size() - 6), info);
      continue;
    }
    if (under_kubepods && starts_with(comp, "pod") && IsPodUid(comp.substr(3))) {
      info.pod_uid = normalize_uid(comp.substr(3));
      prev_was_pod = true;
      continue;
    }
    if (comp == "docker") {
      prev_was_docker = true;
      continue;
    }
    // cgroupfs driver: the container's cgroup is the bare id under pod<uid> or /docker.
    if (IsContainerId(comp) && (was_pod || was_docker)) {
      info.container_id = lower(comp);
      if (was_docker) info.runtime = ContainerRuntime::kDocker;
      continue;
    }
  }
  if (info.container_id.empty() && info.pod_uid.empty()) return std::nullopt;
  if (!info.pod_uid.empty() && info.qos == QosClass::kUnknown) info.qos = QosClass::kGuaranteed;
  if (info.pod_uid.empty()) info.qos = QosClass::kUnknown;
  return info;
}

std::optional<CgroupInfo> CgroupParser::Parse(std::string_view text) {
  std::optional<CgroupInfo> best;
  auto score = [](const CgroupInfo& i) {
    return (i.in_container() ? 2 : 0) + (i.in_pod() ? 1 : 0);
  };
  for (std::string_view line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // "hierarchy-ID:controller-list:cgroup-path"; the path itself may contain ':' (kind form).
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view hierarchy = line.substr(0, c1);
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string_view path = line.substr(c2 + 1);
    auto info = ParsePath(path);
    if (!info) continue;
    info->cgroup_v2 = hierarchy == "0" && controllers.empty();
    if (!best || score(*info) > score(*best)) best = std::move(info);
    if (score(*best) == 3) break;
  }
  return best;
}

std::optional<CgroupInfo> CgroupParser::ReadPid(int pid, const std::string& proc_root) {
  std::ifstream in(proc_root + "/" + std::to_string(pid) + "/cgroup");
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str());
}

}  // namespace zerotrace::k8s
