#pragma once

#include <memory>
#include <string>
#include <vector>

#include "test_util.h"

namespace zerotrace::testing {

// A real `zerotrace run` under test: started on an ephemeral port, ready when /ready says so.
class Collector {
 public:
  // `env`: extra NAME=value entries, e.g. ZEROTRACE_DISABLE_FEATURES to force a fallback path.
  Collector(const std::string& binary, std::vector<std::string> extra_args,
            std::vector<std::string> env = {});
  ~Collector();

  // Empty on success, else why it did not become ready (with the daemon's log).
  // Default: 60 s, or ZT_E2E_READY_TIMEOUT_S (the kernel matrix: under QEMU without KVM the
  // verifier takes minutes over the 28 programs of the per-syscall tracepoint path).
  std::string WaitReady(std::chrono::milliseconds timeout = DefaultReadyTimeout());
  static std::chrono::milliseconds DefaultReadyTimeout();
  std::string Url(const std::string& path) const;
  std::vector<Sample> Scrape() const;
  std::string Log() const { return ReadFileOrEmpty(log_path_); }
  Child& process() { return *child_; }

 private:
  std::string log_path_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

}  // namespace zerotrace::testing
