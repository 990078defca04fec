#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace zerotrace {

// A file as a traced process names it: `path` as the process sees it, looked up inside `root`
// (its /proc/PID/root, so files inside containers are found; "" for this mount namespace).
struct FileLocation {
  std::string root;
  std::string path;
  std::string Joined() const { return root + path; }
  bool operator==(const FileLocation&) const = default;
};

// Why a file named by a workload was not read (zerotrace_untrusted_files_refused_total{reason}).
enum class FileRefusal : uint8_t {
  kNotRegular,  // a FIFO, device, socket or folder where a file was expected
  kTooLarge,    // past the reader's size bound
  kUnsafePath,  // a symbolic link where none may be, or a link or ".." that could not be
                // resolved safely (no openat2)
  kCount
};
std::string_view FileRefusalLabel(FileRefusal reason);

// Executables and shared objects larger than this are not read (counted too_large): above the
// largest shared objects of GPU nodes (libtorch_cuda.so, about 1.5 GiB); a 2 GiB file is refused.
inline constexpr uint64_t kMaxBinaryFileBytes = 1792ull << 20;

struct UntrustedOpenOptions {
  uint64_t max_bytes = 0;  // required
  // false: any symbolic link on the way is refused (files the process writes itself, such as
  // /tmp/perf-PID.map, are never links).
  bool follow_symlinks = true;
};

// Opens for reading a file whose name comes from a traced process (its maps, a debug link, a
// perf map). With a root, the name is resolved inside it: absolute symbolic links and ".." stay
// under the root (openat2 RESOLVE_IN_ROOT; magic links such as /proc/self/root are refused), so
// a container cannot make the collector read a file of the host. Without openat2 (kernels
// before 5.6, or a seccomp filter) the path is walked one component at a time without following
// links, and a link anywhere is refused. Only regular files of at most `max_bytes` are opened,
// non-blocking (a FIFO planted at the path cannot hang the collector). Returns a descriptor the
// caller closes, or -1 with errno set; refusals are counted by reason.
int OpenUntrustedFile(const FileLocation& file, const UntrustedOpenOptions& options);

// "/proc/123/root/usr/lib/x.so" → {"/proc/123/root", "/usr/lib/x.so"}: for paths that were
// joined before they reached a reader. Any other path is {"", path}.
FileLocation SplitProcessRoot(const std::string& joined);

// Process-wide counts of refusals since start.
uint64_t UntrustedFilesRefused(FileRefusal reason);

namespace testing {
// Takes the path used where openat2 is missing, so tests cover it on any kernel.
void ForceWithoutOpenat2(bool on);
}  // namespace testing

}  // namespace zerotrace
