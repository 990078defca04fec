#include "core/untrusted_file.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <utility>

namespace zerotrace {
namespace {

std::array<std::atomic<uint64_t>, static_cast<size_t>(FileRefusal::kCount)> g_refused{};
std::atomic<bool> g_without_openat2{false};

int Refuse(FileRefusal reason, int err) {
  g_refused[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  errno = err;
  return -1;
}

// Closes on scope exit unless released.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

constexpr int kReadFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;

int Openat2(int dirfd, const std::string& path, uint64_t resolve) {
  open_how how{};
  how.flags = kReadFlags;
  how.resolve = resolve;
  int fd = -1;
  // EAGAIN: a rename or mount raced the lookup; the kernel asks for a retry.
  for (int attempt = 0; attempt < 3; ++attempt) {
    fd = static_cast<int>(syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how)));
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return fd;
}

// Without openat2: one component at a time from `dirfd`, no link followed, no "..".
int WalkWithoutLinks(int dirfd, const std::string& path) {
  Fd dir(dup(dirfd));
  if (dir.get() < 0) return -1;
  size_t at = 0;
  while (true) {
    while (at < path.size() && path[at] == '/') ++at;
    const size_t end = std::min(path.find('/', at), path.size());
    const std::string name = path.substr(at, end - at);
    at = end;
    while (at < path.size() && path[at] == '/') ++at;
    const bool last = at >= path.size();
    if (name == "..") return Refuse(FileRefusal::kUnsafePath, EXDEV);
    if (name.empty() || name == ".") {
      if (last) return Refuse(FileRefusal::kNotRegular, EISDIR);
      continue;
    }
    if (last) {
      const int fd = openat(dir.get(), name.c_str(), kReadFlags | O_NOFOLLOW);
      if (fd < 0 && errno == ELOOP) return Refuse(FileRefusal::kUnsafePath, ELOOP);
      return fd;
    }
    const int next = openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      struct stat st;
      if (errno == ENOTDIR && fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode)) {
        return Refuse(FileRefusal::kUnsafePath, ELOOP);
      }
      return -1;
    }
    dir.reset(next);
  }
}

int OpenByName(const FileLocation& file, bool follow_symlinks) {
  const bool have_openat2 = !g_without_openat2.load(std::memory_order_relaxed);
  if (file.root.empty() && follow_symlinks) {
    // This mount namespace's own view: the collector's files, trusted as any path it opens.
    return open(file.path.c_str(), kReadFlags);
  }
  Fd root(open(file.root.empty() ? "/" : file.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return -1;
  uint64_t resolve = follow_symlinks ? RESOLVE_NO_MAGICLINKS : RESOLVE_NO_SYMLINKS;
  if (!file.root.empty()) resolve |= RESOLVE_IN_ROOT;
  if (have_openat2) {
    const int fd = Openat2(root.get(), file.path, resolve);
    if (fd >= 0) return fd;
    if (errno == ELOOP || errno == EXDEV) return Refuse(FileRefusal::kUnsafePath, errno);
    // ENOSYS: before 5.6; EPERM: a seccomp filter that does not know it.
    if (errno != ENOSYS && errno != EPERM) return -1;
  }
  return WalkWithoutLinks(root.get(), file.path);
}

}  // namespace

std::string_view FileRefusalLabel(FileRefusal reason) {
  switch (reason) {
    case FileRefusal::kNotRegular:
      return "not_regular";
    case FileRefusal::kTooLarge:
      return "too_large";
    case FileRefusal::kUnsafePath:
      return "unsafe_path";
    case FileRefusal::kCount:
      break;
  }
  return "unknown";
}

int OpenUntrustedFile(const FileLocation& file, const UntrustedOpenOptions& options) {
  Fd fd(OpenByName(file, options.follow_symlinks));
  if (fd.get() < 0) return -1;
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return -1;
  if (!S_ISREG(st.st_mode)) return Refuse(FileRefusal::kNotRegular, EINVAL);
  if (static_cast<uint64_t>(st.st_size) > options.max_bytes) {
    return Refuse(FileRefusal::kTooLarge, EFBIG);
  }
  return fd.release();
}

FileLocation SplitProcessRoot(const std::string& joined) {
  // The first "/<digits>/root/" is the process's: a proc root ("/proc", "/host/proc") has none.
  for (size_t at = joined.find("/root/"); at != std::string::npos;
       at = joined.find("/root/", at + 1)) {
    const size_t digits_end = at;
    size_t digits = digits_end;
    while (digits > 0 && joined[digits - 1] >= '0' && joined[digits - 1] <= '9') --digits;
    if (digits < digits_end && digits > 0 && joined[digits - 1] == '/') {
      return {joined.substr(0, at + 5), joined.substr(at + 5)};
    }
  }
  return {"", joined};
}

uint64_t UntrustedFilesRefused(FileRefusal reason) {
  if (reason >= FileRefusal::kCount) return 0;
  return g_refused[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
}

namespace testing {
void ForceWithoutOpenat2(bool on) { g_without_openat2.store(on); }
}  // namespace testing

}  // namespace zerotrace
