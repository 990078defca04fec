#pragma once

#include <cstddef>
#include <cstdint>

namespace zerotrace::fuzz {

// Entry points for the parsers of untrusted input outside the protocol parsers (those are in
// tests/unit/protocols_fuzz). Shared by the libFuzzer binaries (fuzz_<name>, built with clang and
// ZT_BUILD_FUZZERS) and parsers_fuzz_replay (any compiler, the `parsers_fuzz_replay` ctest).
// Each returns 0 and aborts on a violated invariant; sanitizers catch memory errors.
int FuzzElf(const uint8_t* data, size_t size);              // ELF symbols, build id, debug link
int FuzzPerfMap(const uint8_t* data, size_t size);          // /tmp/perf-PID.map
int FuzzProcMaps(const uint8_t* data, size_t size);         // /proc/PID/maps
int FuzzEnviron(const uint8_t* data, size_t size);          // /proc/PID/environ
int FuzzCgroup(const uint8_t* data, size_t size);           // /proc/PID/cgroup
int FuzzPodJson(const uint8_t* data, size_t size);          // API server PodList
int FuzzConfig(const uint8_t* data, size_t size);           // YAML config file
int FuzzConnTracker(const uint8_t* data, size_t size);      // socket event streams
int FuzzCupti(const uint8_t* data, size_t size);            // CUPTI (and CUDA) ring buffer records
int FuzzOtlpOptions(const uint8_t* data, size_t size);      // OTEL_* environment
int FuzzFlamegraphQuery(const uint8_t* data, size_t size);  // /flamegraph?...
int FuzzPythonLineTable(const uint8_t* data, size_t size);  // a code object's co_linetable

struct NamedTarget {
  const char* name;  // also the corpus folder: corpus/<name>/
  int (*fn)(const uint8_t*, size_t);
};
inline constexpr NamedTarget kTargets[] = {
    {"elf", FuzzElf},
    {"perf_map", FuzzPerfMap},
    {"proc_maps", FuzzProcMaps},
    {"environ", FuzzEnviron},
    {"cgroup", FuzzCgroup},
    {"pod_json", FuzzPodJson},
    {"config", FuzzConfig},
    {"conn_tracker", FuzzConnTracker},
    {"cupti", FuzzCupti},
    {"otlp_options", FuzzOtlpOptions},
    {"flamegraph_query", FuzzFlamegraphQuery},
    {"python_line_table", FuzzPythonLineTable},
};

}  // namespace zerotrace::fuzz
