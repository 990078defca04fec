#include "process/process_catalog.h"

#include "core/process_alive.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <string_view>

#include "core/utf8.h"

namespace zerotrace {
namespace {

// Up to `limit` bytes of a /proc file ("" when unreadable). Grows as it reads: most environ
// files are a few KiB, and a buffer of the full limit per read was a MiB zero-filled each time.
std::string ReadFile(const std::string& path, size_t limit = 1 << 20) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  size_t used = 0;
  while (used < limit) {
    if (out.size() == used) out.resize(std::min(limit, std::max<size_t>(4096, used * 2)));
    const ssize_t n = read(fd, out.data() + used, out.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += static_cast<size_t>(n);
  }
  close(fd);
  out.resize(used);
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  // A replaced binary reads as "/usr/bin/foo (deleted)".
  const std::string deleted = " (deleted)";
  if (name.size() > deleted.size() &&
      name.compare(name.size() - deleted.size(), deleted.size(), deleted) == 0) {
    name.resize(name.size() - deleted.size());
  }
  return name;
}

}  // namespace

std::optional<std::string> OtelServiceName(const std::string& environ_blob) {
  static const std::string kKey = "OTEL_SERVICE_NAME=";
  size_t pos = 0;
  while (pos < environ_blob.size()) {
    size_t end = environ_blob.find('\0', pos);
    if (end == std::string::npos) end = environ_blob.size();
    if (environ_blob.compare(pos, kKey.size(), kKey) == 0 && end > pos + kKey.size()) {
      return environ_blob.substr(pos + kKey.size(), end - pos - kKey.size());
    }
    pos = end + 1;
  }
  return std::nullopt;
}

std::string ResolveServiceName(const std::string& environ_blob,
                               const std::optional<std::string>& hook_name,
                               const std::string& exe_name, const std::string& comm) {
  // Every source here is the process's own choice of bytes (environment, file name, prctl
  // name), and the name becomes a label value: UTF-8, and bounded in length.
  std::string name;
  if (auto env = OtelServiceName(environ_blob)) {
    name = *env;
  } else if (hook_name && !hook_name->empty()) {
    name = *hook_name;
  } else if (!exe_name.empty()) {
    name = exe_name;
  } else {
    name = comm.empty() ? "unknown" : comm;
  }
  BoundLabelValue(&name);
  return name;
}

std::map<std::string, std::string> K8sLabels(const K8sIdentity& k8s) {
  std::map<std::string, std::string> labels;
  if (!k8s.namespace_name.empty()) labels["k8s_namespace_name"] = k8s.namespace_name;
  if (!k8s.pod_name.empty()) labels["k8s_pod_name"] = k8s.pod_name;
  if (!k8s.container_name.empty()) labels["k8s_container_name"] = k8s.container_name;
  if (!k8s.node_name.empty()) labels["k8s_node_name"] = k8s.node_name;
  return labels;
}

ProcessCatalog::ProcessCatalog(std::string proc_root, K8sResolver k8s,
                               std::chrono::milliseconds revalidate_after)
    : proc_root_(std::move(proc_root)), k8s_(std::move(k8s)), revalidate_after_(revalidate_after) {}

std::optional<ProcessCatalog::Identity> ProcessCatalog::ReadIdentity(uint32_t pid) const {
  const std::string stat = ReadFile(proc_root_ + "/" + std::to_string(pid) + "/stat", 4096);
  // comm may contain spaces and parentheses: it is what lies between the first '(' and the last
  // ')', and fields are counted after that ')'.
  const auto open = stat.find('(');
  const auto close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  Identity id;
  id.comm = stat.substr(open + 1, close - open - 1);
  // After ")": field 3 (state) is index 0, so starttime (field 22) is index 19.
  std::string_view rest(stat);
  rest.remove_prefix(close + 1);
  for (int i = 0; i < 20; ++i) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const size_t end = std::min(rest.find(' '), rest.size());
    const std::string_view field = rest.substr(0, end);
    if (field.empty()) return std::nullopt;
    if (i == 0 && (field == "Z" || field == "X")) return std::nullopt;  // exited
    if (i == 19) {
      const auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), id.start);
      if (ec != std::errc() || ptr != field.data() + field.size()) return std::nullopt;
      return id;
    }
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

std::optional<ProcessInfo> ProcessCatalog::Read(uint32_t pid) const {
  auto start = ReadIdentity(pid);
  if (!start) return std::nullopt;
  const std::string dir = proc_root_ + "/" + std::to_string(pid);
  ProcessInfo info;
  info.pid = pid;
  info.start_time = start->start;
  info.comm = start->comm;
  char buf[PATH_MAX];
  ssize_t n = readlink((dir + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n > 0) info.exe_name = Basename(std::string(buf, static_cast<size_t>(n)));
  std::optional<std::string> hook_name;
  if (k8s_) {
    if (auto id = k8s_(pid)) {
      info.k8s = *id;
      hook_name = id->container_name;
    }
  }
  info.service_name =
      ResolveServiceName(ReadFile(dir + "/environ"), hook_name, info.exe_name, info.comm);
  // A process that exited while we read it leaves empty files behind (environ, exe): that torn
  // view would name it by its comm. Callers then fall back to what the kernel captured.
  if (ReadIdentity(pid) != start) return std::nullopt;
  return info;
}

std::optional<ProcessInfo> ProcessCatalog::Lookup(uint32_t pid) { return Lookup(pid, true); }

std::optional<ProcessInfo> ProcessCatalog::LookupFresh(uint32_t pid) { return Lookup(pid, false); }

std::optional<ProcessInfo> ProcessCatalog::Lookup(uint32_t pid, bool trust_cache) {
  const auto now = std::chrono::steady_clock::now();
  if (trust_cache) {
    std::lock_guard lock(mu_);
    auto it = cache_.find(pid);
    if (it != cache_.end() && now - it->second.validated < revalidate_after_) {
      return it->second.info;
    }
  }
  auto id = ReadIdentity(pid);
  if (!id) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(pid);
    if (it != cache_.end() && Matches(it->second.info, *id)) {
      it->second.validated = now;
      return it->second.info;
    }
  }
  auto info = Read(pid);
  if (!info) return std::nullopt;
  std::lock_guard lock(mu_);
  cache_[pid] = Cached{*info, now};
  return info;
}

bool ProcessCatalog::IsAlive(uint32_t pid) const { return ProcessAlive(pid, proc_root_); }

std::vector<uint32_t> ProcessCatalog::Sweep() {
  std::vector<uint32_t> gone;
  std::lock_guard lock(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    auto id = ReadIdentity(it->first);
    if (!id || !Matches(it->second.info, *id)) {
      gone.push_back(it->first);
      it = cache_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

size_t ProcessCatalog::size() const {
  std::lock_guard lock(mu_);
  return cache_.size();
}

std::vector<uint32_t> ProcessCatalog::FindByComm(const std::string& comm) const {
  std::vector<uint32_t> pids;
  DIR* dir = opendir(proc_root_.c_str());
  if (!dir) return pids;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    unsigned long pid = std::strtoul(e->d_name, &end, 10);
    if (*end != '\0' || pid == 0) continue;
    if (Trim(ReadFile(proc_root_ + "/" + e->d_name + "/comm", 64)) == comm) {
      pids.push_back(static_cast<uint32_t>(pid));
    }
  }
  closedir(dir);
  return pids;
}

}  // namespace zerotrace
