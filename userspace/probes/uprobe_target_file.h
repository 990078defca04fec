#pragma once

#include <optional>
#include <string>

namespace zerotrace {

// A library a traced process maps, opened once inside that process's root (OpenUntrustedFile)
// and named for the uprobe attach by its descriptor ("/proc/self/fd/N"). The kernel resolves an
// attach path on its own, following absolute links from the collector's root: given
// "/proc/PID/root/usr/lib/libssl.so.3", a link planted there would put the uprobe (and libbpf's
// symbol lookup) on a file of the host. Through the descriptor it is exactly the file that was
// checked. The uprobe holds the file once attached; the descriptor is closed with this object.
class UprobeTargetFile {
 public:
  // `path` as the scanners give it (PROC/PID/root/… or a host path); nullopt when the file
  // cannot be opened safely (missing, refused: see zerotrace_untrusted_files_refused_total).
  static std::optional<UprobeTargetFile> Open(const std::string& path);
  ~UprobeTargetFile();
  UprobeTargetFile(UprobeTargetFile&& other) noexcept;
  UprobeTargetFile& operator=(UprobeTargetFile&&) = delete;
  UprobeTargetFile(const UprobeTargetFile&) = delete;
  UprobeTargetFile& operator=(const UprobeTargetFile&) = delete;

  const std::string& attach_path() const { return attach_path_; }

 private:
  explicit UprobeTargetFile(int fd);
  int fd_;
  std::string attach_path_;
};

}  // namespace zerotrace
