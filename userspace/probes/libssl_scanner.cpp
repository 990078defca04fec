#include "probes/libssl_scanner.h"

#include <dirent.h>

#include <fstream>
#include <sstream>

namespace zerotrace {
namespace {

void AddLibsslOf(const std::string& proc_root, const std::string& pid_dir,
                 LibsslScanner::Files* found) {
  std::ifstream maps(proc_root + "/" + pid_dir + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const auto base = path.substr(path.rfind('/') + 1);
    if (base.rfind("libssl.so", 0) != 0) continue;
    // Fields: address perms offset dev inode path; dev+inode identify the file across mounts.
    std::istringstream f(line);
    std::string addr, perms, off, dev, inode;
    f >> addr >> perms >> off >> dev >> inode;
    found->emplace(dev + ":" + inode, proc_root + "/" + pid_dir + "/root" + path);
  }
}

}  // namespace

LibsslScanner::Files LibsslScanner::All() const {
  Files found;
  if (DIR* dir = opendir(proc_root_.c_str())) {
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] >= '1' && e->d_name[0] <= '9') AddLibsslOf(proc_root_, e->d_name, &found);
    }
    closedir(dir);
  }
  return found;
}

LibsslScanner::Files LibsslScanner::Of(uint32_t pid) const {
  Files found;
  AddLibsslOf(proc_root_, std::to_string(pid), &found);
  return found;
}

void LibsslScanner::Queue(uint32_t pid, std::chrono::milliseconds delay, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (pending_.size() >= kMaxPending) return;  // the periodic full scan still finds it
  pending_.emplace_back(pid, now + delay);
}

void LibsslScanner::QueueFirstSeen(uint32_t pid, Clock::time_point now) {
  {
    std::lock_guard lock(mu_);
    if (first_seen_.size() >= kMaxFirstSeen) first_seen_.clear();
    if (!first_seen_.insert(pid).second) return;
  }
  Queue(pid, std::chrono::milliseconds(0), now);
}

std::vector<uint32_t> LibsslScanner::TakeDue(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (now - budget_second_ >= std::chrono::seconds(1)) {
    budget_second_ = now;
    budget_used_ = 0;
  }
  std::vector<uint32_t> due;
  // Queued with a few different delays, so not in time order: look at every entry.
  for (auto it = pending_.begin(); it != pending_.end() && budget_used_ < kScansPerSecond;) {
    if (it->second <= now) {
      due.push_back(it->first);
      ++budget_used_;
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

size_t LibsslScanner::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace zerotrace
