#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace zerotrace {

// Which processes every probe looks at. Empty = all processes.
struct ProcessSelection {
  std::vector<uint32_t> pids;
  std::vector<std::string> comms;
  bool empty() const { return pids.empty() && comms.empty(); }
};

struct ProbeToggles {
  bool syscalls = true;
  bool sockets = true;  // HTTP/gRPC RED metrics from socket syscalls
  bool tls = true;      // OpenSSL plaintext through uprobes (needs sockets)
  bool oncpu = true;    // continuous on-CPU profiling (perf_event cpu-clock)
  bool offcpu = true;   // continuous off-CPU profiling (sched_switch)
  bool cuda = true;     // libcuda.so.1 driver uprobes in every process that maps it
  bool cupti = true;    // USDT records of libzerotrace_cupti.so (CUDA_INJECTION64_PATH)
};

struct ProfilingConfig {
  uint32_t oncpu_frequency_hz = 49;  // 19..999
  std::chrono::microseconds offcpu_min_block{1};
  std::chrono::microseconds offcpu_max_block{0};  // 0 = no upper bound
  std::string offcpu_state = "any";               // any | interruptible | uninterruptible
  double offcpu_sample_ratio = 1.0;               // share of switch-outs recorded, (0, 1]
  std::string unwind_method = "cfi";  // cfi (.eh_frame, frame pointers where none) | frame_pointers
  uint32_t unwind_max_rows = 1u << 20;  // CFI rows in the kernel for all files (12 bytes each)
};

struct SocketsConfig {
  uint32_t capture_bytes = 16384;  // copied per read/write for parsing (max 16384)
  uint32_t max_routes_per_service = 100;
};

// Request spans over OTLP/HTTP. OTEL_EXPORTER_OTLP_* environment variables override these.
struct OtlpConfig {
  std::string endpoint;         // e.g. http://jaeger:4318 ("/v1/traces" is appended)
  std::string traces_endpoint;  // used as is
  std::map<std::string, std::string> headers;
  std::string compression = "none";               // none | gzip
  std::string protocol = "http/protobuf";         // http/protobuf | http/json
  double sampling_ratio = 1.0;                    // head sampling, deterministic by trace id
  bool keep_errors = true;                        // always keep error spans
  std::chrono::milliseconds keep_slower_than{0};  // always keep slower requests; 0 = off
  // Insert a W3C traceparent into HTTP/1 requests that traced processes send without one, so the
  // callee (traced here or on another node) continues the caller's trace (docs/tracing.md,
  // Propagation). Covers TCP connections established after the start by processes in
  // `propagate_cgroup` (a cgroup v2 directory; empty: the host's cgroup v2 root, wherever it is
  // mounted).
  bool propagate_traceparent = false;
  std::string propagate_cgroup;
  // Spans written to this file (OTLP/JSON, a ResourceSpans document a line) instead of exported:
  // `zerotrace attach --spans FILE`.
  std::string file;
};

// The daemon's whole configuration. Defaults here; a YAML file then flags override them.
struct Config {
  std::string listen = ":9464";  // every address, IPv6 and IPv4
  std::string log_level = "info";
  std::string log_format = "text";
  std::chrono::milliseconds interval{2000};  // how often kernel maps are read
  std::string proc_root = "/proc";
  // Kernel BPF run-time statistics (zerotrace_bpf_prog_*): they are global, so while on every BPF
  // program on the host pays two clock reads per run (≈ 10 % of nginx+wrk throughput with L7
  // capture on a 2-vCPU VM, docs/benchmarks.md): off unless asked for.
  bool bpf_stats = false;
  ProcessSelection select;
  ProbeToggles probes;
  SocketsConfig sockets;
  ProfilingConfig profiling;
  OtlpConfig otlp;
};

// Parses "250ms", "30s", "2m", "1h" or a bare number of seconds.
Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

// Every probe toggle by the name `--probes` and the config file's `probes.<name>` use.
struct ProbeToggleName {
  const char* name;
  bool ProbeToggles::*toggle;
};
const std::vector<ProbeToggleName>& ProbeToggleNames();
// `--probes syscalls,sockets,...`: exactly the listed probes on (tls brings sockets, whose
// pipeline its plaintext flows through).
Result<ProbeToggles> ParseProbeList(const std::string& list);

// Splits "host:port" ("0.0.0.0:9464", ":9464", "[::1]:9464"). An empty host means every
// address: IPv6 and IPv4 on one socket, IPv4 alone where the node has no IPv6.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> ParseListenAddress(const std::string& text);

// Loads a YAML config file on top of `base`. Unknown keys, wrong types and bad values are errors
// naming the file and the key, so a typo never silently falls back to a default.
Result<Config> LoadConfigFile(const std::string& path, Config base = {});
Result<Config> LoadConfigText(const std::string& yaml, const std::string& origin, Config base = {});

// Checks values that flags and files can both get wrong.
Status Validate(const Config& config);

}  // namespace zerotrace
