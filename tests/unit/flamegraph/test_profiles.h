#pragma once

// Hand-made stacks shared by the flamegraph tests.

#include "flamegraph/profile.h"

namespace zerotrace::flamegraph::testing {

inline Frame User(std::string fn, std::string module = "/usr/bin/app", uint64_t off = 0x1000) {
  Frame f;
  f.function = std::move(fn);
  f.module = std::move(module);
  f.module_offset = off;
  f.address = 0x400000 + off;
  f.build_id = "abcdef0123456789";
  f.kind = FrameKind::kUser;
  return f;
}

inline Frame Kernel(std::string fn) {
  Frame f;
  f.function = std::move(fn);
  f.module = "[kernel.kallsyms]";
  f.address = 0xffffffff81000000ULL;
  f.kind = FrameKind::kKernel;
  return f;
}

inline Frame Jit(std::string fn) {
  Frame f;
  f.function = std::move(fn);
  f.module = "[jit]";
  f.kind = FrameKind::kJit;
  return f;
}

inline Frame Gpu(std::string kernel) {
  Frame f;
  f.function = std::move(kernel);
  f.kind = FrameKind::kGpu;
  return f;
}

inline StackSample Stack(std::string process, uint32_t pid, std::vector<Frame> frames,
                         uint64_t value, bool truncated = false) {
  StackSample s;
  s.process = std::move(process);
  s.pid = pid;
  s.frames = std::move(frames);
  s.value = value;
  s.truncated = truncated;
  return s;
}

// main -> work -> compute (leaf, 60)   main -> work -> write -> sys_write_[k] (30)
// main -> idle (10)
inline Profile OnCpuProfile() {
  Profile p;
  p.type = ProfileType::kOnCpu;
  p.period_ns = 1000000000 / 49;
  p.start_unix_ns = 1700000000000000000;
  p.duration_ns = 30000000000;
  p.samples.push_back(Stack(
      "app", 42,
      {User("main"), User("work", "/usr/bin/app", 0x2000), User("compute", "/usr/bin/app", 0x3000)},
      60));
  p.samples.push_back(Stack("app", 42,
                            {User("main"), User("work", "/usr/bin/app", 0x2000),
                             User("write", "/lib/libc.so.6", 0x500), Kernel("sys_write")},
                            30));
  p.samples.push_back(Stack("app", 42, {User("main"), User("idle", "/usr/bin/app", 0x4000)}, 10));
  return p;
}

}  // namespace zerotrace::flamegraph::testing
