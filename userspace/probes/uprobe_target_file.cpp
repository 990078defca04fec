#include "probes/uprobe_target_file.h"

#include <unistd.h>

#include <utility>

#include "core/untrusted_file.h"

namespace zerotrace {

std::optional<UprobeTargetFile> UprobeTargetFile::Open(const std::string& path) {
  const int fd = OpenUntrustedFile(SplitProcessRoot(path), {.max_bytes = kMaxBinaryFileBytes});
  if (fd < 0) return std::nullopt;
  return UprobeTargetFile(fd);
}

UprobeTargetFile::UprobeTargetFile(int fd)
    : fd_(fd), attach_path_("/proc/self/fd/" + std::to_string(fd)) {}

UprobeTargetFile::UprobeTargetFile(UprobeTargetFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), attach_path_(std::move(other.attach_path_)) {}

UprobeTargetFile::~UprobeTargetFile() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace zerotrace
