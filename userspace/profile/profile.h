#pragma once

// The in-memory profile model shared by every profiler (on-CPU, off-CPU, GPU) and every writer
// (folded, SVG, pprof). Profilers symbolize and aggregate; writers only format.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace zerotrace::profile {

enum class FrameKind : uint8_t { kKernel, kUser, kJit, kGpu, kUnknown };

enum class ProfileType : uint8_t {
  kOnCpu,   // values are sample counts; Profile::period_ns converts them to CPU time
  kOffCpu,  // values are nanoseconds blocked
  kGpu,     // values are nanoseconds of GPU kernel execution
};

struct Frame {
  // Symbol name (demangled). Empty when the symbolizer could not resolve the address; writers
  // then fall back to `module+0xOFFSET`. For GPU frames: the CUDA kernel name.
  std::string function;
  // Path or name of the ELF object the address lies in ("/usr/lib/libc.so.6",
  // "[kernel.kallsyms]", "[jit]"). Becomes the pprof Mapping filename. May be empty.
  std::string module;
  // Runtime (virtual) instruction address, 0 when unknown. pprof Location.address.
  uint64_t address = 0;
  // Offset of the instruction inside `module` (file offset), what offline symbolizers need and
  // what the `module+0xOFFSET` fallback name shows.
  uint64_t module_offset = 0;
  // Hex GNU build id of `module`, empty when unknown. pprof Mapping.build_id, lets
  // `go tool pprof` / Pyroscope find the right binary for re-symbolization.
  std::string build_id;
  FrameKind kind = FrameKind::kUnknown;
  // Source line, 0 when unknown. Set for interpreted frames (Python: `function` is the
  // qualified name, `module` the source file), where one function is many lines apart.
  uint32_t line = 0;

  bool operator==(const Frame&) const = default;
};

struct StackSample {
  // comm or service name; the root of the flamegraph (above all frames).
  std::string process;
  uint32_t pid = 0;
  // ROOT FIRST: outermost caller first, leaf (where the sample was taken) last.
  std::vector<Frame> frames;
  // Sample count (on-CPU) or nanoseconds (off-CPU, GPU). See ProfileType.
  uint64_t value = 0;
  // True when the unwinder hit its depth limit, so the root part of the stack is missing; writers
  // insert a `[truncated]` frame right under the process so this is visible instead of silently
  // attributing time to the wrong caller.
  bool truncated = false;
  // Extra string labels for pprof samples, e.g. k8s_namespace_name/k8s_pod_name on Kubernetes.
  std::map<std::string, std::string> labels;

  bool operator==(const StackSample&) const = default;
};

struct Profile {
  ProfileType type = ProfileType::kOnCpu;
  std::vector<StackSample> samples;
  // On-CPU only: nanoseconds represented by one sample (1e9 / sampling Hz). 0 = unknown.
  uint64_t period_ns = 0;
  // Wall clock time the collection started (Unix epoch, ns) and how long it ran. 0 = unknown.
  int64_t start_unix_ns = 0;
  int64_t duration_ns = 0;
};

// Human-readable frame name without kind decoration: the function, else `module+0xOFFSET`, else
// `0xADDRESS`, else `[unknown]`; with a line, `function (file.py:LINE)` (the module's base name).
// GPU frames are `[gpu] kernel_name`. Never empty.
std::string FrameName(const Frame& frame);

// FrameName() plus the kind suffix used in folded files and flamegraphs: `_[k]` for kernel and
// `_[j]` for JIT frames (the convention of perf script / stackcollapse tools).
std::string FrameLabel(const Frame& frame);

// Sum of all sample values (saturating).
uint64_t TotalValue(const Profile& profile);

// Merges samples with identical (process, pid, truncated, frames), summing their values; drops
// zero-valued samples. Order is that of first occurrence, so output stays deterministic.
void MergeIdenticalStacks(Profile& profile);

struct FunctionStat {
  std::string name;  // FrameName() of the frame
  FrameKind kind = FrameKind::kUnknown;
  uint64_t self = 0;   // value of samples where this function is the leaf
  uint64_t total = 0;  // value of samples where this function appears anywhere (counted once)
};

enum class TopOrder : uint8_t { kBySelf, kByTotal };

// The n hottest functions, for the CLI summary table. Functions are identified by (name, kind);
// recursion is counted once per stack in `total`. Ties break by the other value, then by name.
std::vector<FunctionStat> TopFunctions(const Profile& profile, size_t n,
                                       TopOrder order = TopOrder::kBySelf);

std::string_view ProfileTypeName(ProfileType type);  // "oncpu", "offcpu", "gpu"

}  // namespace zerotrace::profile
