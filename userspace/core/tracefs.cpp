#include "core/tracefs.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace zerotrace {

Result<std::string> EnsureTracefsMounted(const std::string& path) {
  const std::string events = path + "/events";
  if (access(events.c_str(), F_OK) == 0) return path;
  // The older debugfs location still works when tracefs is auto-mounted under it.
  if (access("/sys/kernel/debug/tracing/events", F_OK) == 0) {
    return std::string("/sys/kernel/debug/tracing");
  }
  mkdir(path.c_str(), 0700);
  if (mount("tracefs", path.c_str(), "tracefs", 0, nullptr) != 0) {
    return Error{"tracefs is not mounted and mounting it at " + path +
                 " failed: " + std::strerror(errno) + " (mount it with `mount -t tracefs tracefs " +
                 path + "`, or in a container mount the host's /sys/kernel/tracing)"};
  }
  spdlog::info("mounted tracefs at {}", path);
  return path;
}

}  // namespace zerotrace
