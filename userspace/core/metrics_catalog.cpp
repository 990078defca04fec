#include "core/metrics_catalog.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <unordered_map>

namespace zerotrace::metrics {
namespace {

constexpr const char* kPreamble = R"md(# zerotrace metrics

<!-- Generated from userspace/core/metrics_catalog.cpp by `zerotrace metrics --format markdown`
     (scripts/gen-metrics-doc.sh); edit the catalog, not this file. A test fails when it is stale. -->

Everything zerotrace exports on `:9464/metrics` (Prometheus text format). Names follow the
OpenTelemetry semantic conventions translated to Prometheus (`http.server.request.duration` →
`http_server_request_duration_seconds`); zerotrace's own metrics carry the `zerotrace_` prefix.

Conventions:

- **Histograms** expose `<name>_bucket{le=...}`, `<name>_sum` and `<name>_count`. HTTP/gRPC histograms use
  the OTel default boundaries 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10 s;
  syscall durations use log2 buckets (powers of two of nanoseconds, expressed in seconds) because
  the kernel aggregates them that way; GPU durations have the buckets 1, 5, 10, 50, 100, 250,
  500 µs, 1, 2.5, 5, 10, 25, 50, 100, 500 ms, 1 and 5 s.
- **Per-process series** (every metric with a `service_name` label) additionally carry, when running on
  Kubernetes, `k8s_namespace_name`, `k8s_pod_name`, `k8s_container_name` and `k8s_node_name`
  (`k8s_*` in the Labels column). They are resolved from the process cgroup (container id) and the
  API server; off Kubernetes they are absent.
- `service_name` is `OTEL_SERVICE_NAME` from the process environment, else the Kubernetes container
  name, else the executable name.
- Label cardinality is bounded: HTTP routes are templated (`/users/123` → `/users/{id}`) and overflow
  goes to the value `other`. A label whose values are listed in parentheses takes no other value.

The tables are machine-read by `tests/unit/deploy/check_dashboards.py`: every metric a dashboard or
alert uses must be listed, with the labels it uses.)md";

constexpr const char* kTrailer = R"md(## Recording rules

`deploy/prometheus/alerts.yml` records SLO ratios per `(k8s_namespace_name, service_name)` over the
windows 5m, 30m, 1h, 2h, 6h, 1d and 3d:

- `zerotrace:http_server_error_ratio:rate<window>` — share of HTTP server requests answered 5xx.
- `zerotrace:http_server_slow_ratio:rate<window>` — share of HTTP server requests slower than 0.5 s.
- `zerotrace:rpc_server_error_ratio:rate<window>` — share of gRPC server calls ending in UNKNOWN,
  DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE or DATA_LOSS.

## Useful queries

```promql
# Requests per second and error % per service
sum by (service_name) (rate(http_server_request_duration_seconds_count[5m]))
sum by (service_name) (rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[5m]))
  / sum by (service_name) (rate(http_server_request_duration_seconds_count[5m]))
# p99 latency per route
histogram_quantile(0.99, sum by (service_name, http_route, le) (rate(http_server_request_duration_seconds_bucket[5m])))
# GPU utilisation per device
rate(zerotrace_gpu_busy_seconds_total[5m])
# Collector overhead: CPU cores used by BPF programs on each node
sum by (instance) (rate(zerotrace_bpf_prog_run_seconds_total[5m]))
```)md";

std::vector<Section> BuildCatalog() {
  return {
      {.title = "Syscalls",
       .intro = R"md()md",
       .metrics =
           {
               {.name = "zerotrace_syscalls_total",
                .type = Type::kCounter,
                .help = "System calls completed, by service and syscall",
                .per_service = true,
                .labels = {{"syscall"}},
                .doc =
                    R"md(System calls completed, per process and syscall name. A (service, syscall) series not updated for 10 minutes is removed (a node running ever new short-lived commands would otherwise grow its series without end) and starts again at 0 when the service makes that call again, which Prometheus reads as a counter reset; the same holds for the errors and duration series below.)md"},
               {.name = "zerotrace_syscall_errors_total",
                .type = Type::kCounter,
                .help = "System calls that returned an error (negative return value)",
                .per_service = true,
                .labels = {{"syscall"}},
                .doc = R"md(System calls that returned an error (negative return value).)md"},
               {.name = "zerotrace_syscall_duration_seconds",
                .type = Type::kHistogram,
                .help = "Time from syscall entry to exit",
                .type_note = "(log2)",
                .per_service = true,
                .labels = {{"syscall"}},
                .buckets = Buckets::kLog2Seconds,
                .doc =
                    R"md(Time between syscall entry and exit. Blocking calls (`epoll_wait`, `futex`, `read` on a socket) are expected to be long. Its `_count` can be a little below `zerotrace_syscalls_total`: calls already in progress when zerotrace started are counted but not timed, and so is a call whose thread shared its in-progress slot (tid modulo 262,144) with another thread in a syscall at the same moment (counted in `zerotrace_events_lost_total{probe="syscalls"}`).)md"},
           },
       .outro = R"md()md"},
      {.title = "Profiling",
       .intro = R"md()md",
       .metrics =
           {
               {.name = "zerotrace_oncpu_samples_total",
                .type = Type::kCounter,
                .help = "On-CPU profile samples (cpu-clock perf events) per service",
                .per_service = true,
                .doc =
                    R"md(On-CPU stack samples taken (cpu-clock perf event at the sampling frequency, default 49 Hz per CPU). `rate() / 49` ≈ cores used.)md"},
               {.name = "zerotrace_offcpu_seconds_total",
                .type = Type::kCounter,
                .help = "Time threads spent blocked off-CPU, per service",
                .per_service = true,
                .doc =
                    R"md(Time threads spent blocked off-CPU (sched_switch to wakeup), above the minimum block threshold. Summed over threads, so it can exceed wall time. Like the on-CPU counter, a service's series with nothing new for 10 minutes is removed and restarts at 0.)md"},
           },
       .outro = R"md()md"},
      {.title = "HTTP and gRPC (OpenTelemetry semantic conventions)",
       .intro =
           R"md(Label values come from what clients send, so they are bounded and cleaned before they reach a
series: methods outside the registered set (`GET`, `HEAD`, `POST`, `PUT`, `DELETE`, `CONNECT`,
`OPTIONS`, `TRACE`, `PATCH`, `QUERY`) read `_OTHER`; `http_route` is the templated path (ids become
`{id}`, query strings dropped), at most `max_routes_per_service` (default 100) per service and
`other` beyond, and exchanges that found nothing (404, unparsed, gRPC `UNIMPLEMENTED`) may name at
most a quarter of those routes, so a scanner's missing paths cannot crowd out the real ones; gRPC
`rpc_service`/`rpc_method` read `other` with the route. Every value is valid UTF-8 (bad bytes
become U+FFFD): one invalid byte would make Prometheus reject the whole scrape.
A series with no request for 10 minutes is removed (rolled-out pods leave their `k8s_pod_name`
series behind otherwise) and starts again from zero with its next request.)md",
       .metrics =
           {
               {.name = "http_server_request_duration_seconds",
                .type = Type::kHistogram,
                .help = "Duration of HTTP server requests (first request byte read to last "
                        "response byte written)",
                .per_service = true,
                .labels = {{"http_request_method"},
                           {"http_response_status_code"},
                           {"http_route"},
                           {"server_port"}},
                .buckets = Buckets::kOtelSeconds,
                .doc =
                    R"md(Duration of HTTP requests served by the process (request first byte to response last byte, as seen on the socket or TLS library). `_count` is the request rate; status `5xx` counts as an error.)md"},
               {.name = "http_client_request_duration_seconds",
                .type = Type::kHistogram,
                .help = "Duration of HTTP client requests (first request byte written to last "
                        "response byte read)",
                .per_service = true,
                .labels = {{"http_request_method"}, {"http_response_status_code"}, {"http_route"}},
                .buckets = Buckets::kOtelSeconds,
                .doc = R"md(Duration of HTTP requests made by the process.)md"},
               {.name = "rpc_server_duration_seconds",
                .type = Type::kHistogram,
                .help = "Duration of inbound RPCs",
                .per_service = true,
                .labels = {{"rpc_system", {"grpc"}},
                           {"rpc_service"},
                           {"rpc_method"},
                           {"rpc_grpc_status_code"}},
                .buckets = Buckets::kOtelSeconds,
                .doc =
                    R"md(Duration of gRPC calls served. `rpc_grpc_status_code` is numeric (`0` OK, `2` UNKNOWN, `4` DEADLINE_EXCEEDED, `13` INTERNAL, `14` UNAVAILABLE, ...).)md"},
               {.name = "rpc_client_duration_seconds",
                .type = Type::kHistogram,
                .help = "Duration of outbound RPCs",
                .per_service = true,
                .labels = {{"rpc_system", {"grpc"}},
                           {"rpc_service"},
                           {"rpc_method"},
                           {"rpc_grpc_status_code"}},
                .buckets = Buckets::kOtelSeconds,
                .doc = R"md(Duration of gRPC calls made.)md"},
               {.name = "zerotrace_requests_lost_total",
                .type = Type::kCounter,
                .help = "Requests the traced peers exchanged that are not in the RED series, by "
                        "reason: recorded + lost = completed (docs/metrics.md)",
                .per_service = true,
                .labels = {{"protocol", {"http1", "http2", "grpc"}},
                           {"side", {"server", "client", "unknown"}},
                           {"reason",
                            {"unparsable", "capture_gap", "headers_unreadable", "stream_limit",
                             "queue_limit", "connection_closed"}}},
                .doc =
                    R"md(Requests the traced peers exchanged that are not in the RED series, so that for each protocol and side **recorded + lost = requests the peer completed** (checked by tests/conformance). `side="unknown"`: a connection whose accept or connect went by before zerotrace attached and whose bytes never showed which end sends requests (its losses are still counted). `reason`: `unparsable` (bytes that are not the protocol, or a header block over the parser's bound), `capture_gap` (bytes not captured or not seen: ring full, a call larger than the capture without frame following, a request whose start went by before zerotrace attached), `headers_unreadable` (an HTTP/2 header block lost or its HPACK state desynchronised: the connection's later requests are counted here, never recorded wrong), `stream_limit` (over 2048 concurrent HTTP/2 streams on one connection), `queue_limit` (over the pipelined HTTP/1 requests the parser queues), `connection_closed` (the connection closed or its process exited mid-request). Losses that cannot be tied to a connection (events dropped by a full ring before a connection was known, `zerotrace_connections_dropped_total`) are counted by those metrics instead. Replaces `zerotrace_http_unparsed_requests_total`.)md"},
               {.name = "zerotrace_connections_tracked",
                .type = Type::kGauge,
                .help = "TCP connections currently tracked by the L7 parsers",
                .doc = R"md(TCP connections currently tracked by the connection tracker.)md"},
               {.name = "zerotrace_connections_dropped_total",
                .type = Type::kCounter,
                .help = "Connections not tracked because the connection bound was reached",
                .doc =
                    R"md(Connections not tracked because the connection bound (65536) was reached.)md"},
               {.name = "zerotrace_requests_total",
                .type = Type::kCounter,
                .help = "Requests completed by the L7 parsers (parsed or not)",
                .doc = R"md(Requests completed by the L7 parsers, parsed or not.)md"},
               {.name = "zerotrace_socket_bytes_captured_total",
                .type = Type::kCounter,
                .help = "Socket payload bytes copied from the kernel for parsing",
                .doc = R"md(Socket payload bytes copied from the kernel for parsing.)md"},
               {.name = "zerotrace_socket_bytes_not_copied_total",
                .type = Type::kCounter,
                .help = "Socket payload bytes left in the kernel because the parser skips them "
                        "anyway (the rest of a large body of declared length, HTTP/2 DATA payload "
                        "between followed frames)",
                .doc =
                    R"md(Socket payload bytes left in the kernel on a capture hint: once an HTTP/1 body of at least 64 KiB and declared length has begun, the kernel is told to send nothing until its end (the parser skips it by length anyway). HTTP/2 DATA payload between frames the kernel follows (calls larger than the capture size, see `zerotrace_http2_frame_following_lost_total`) is counted too. Bytes of connections whose protocol was not recognised are left in the kernel too, and not counted here.)md"},
               {.name = "zerotrace_socket_events_disordered_total",
                .type = Type::kCounter,
                .help = "Socket events of a connection direction that did not start where the "
                        "previous one ended: kind=late (reported after a later call of the same "
                        "direction), kind=after_gap (bytes before it never reached the parser)",
                .labels = {{"kind", {"late", "after_gap", "unclosed_generation"}}},
                .doc =
                    R"md(Socket events of a connection direction that did not start at the kernel stream offset where the previous one ended. `kind="late"`: reported after a later call of the same direction (two threads' calls on one socket reached the collector out of order; the parser sees torn bytes and counts what it loses in `zerotrace_requests_lost_total`); `kind="after_gap"`: bytes before it never reached the parser (events lost to a full ring); `kind="unclosed_generation"`: a new connection appeared on an fd whose previous connection was not seen closing (its open requests are counted lost as `connection_closed`). An event of an earlier connection reported after the next one began on the same fd (a CLOSE trailing the fd's reuse) counts as `late` and is left out.)md"},
               {.name = "zerotrace_socket_reads_reordered_total",
                .type = Type::kCounter,
                .help = "Socket reads parsed after a write of the same connection reported after "
                        "them: outcome=after_write (the write they answered came), hold_expired, "
                        "hold_full (parsed as they came)",
                .labels = {{"outcome", {"after_write", "hold_expired", "hold_full"}}},
                .doc =
                    R"md(A write's event is made when the write returns, after its bytes reached the peer, so the reply, read by another thread (a Go client reads and writes in different goroutines), can reach the collector first. Each TCP event carries the socket's count of bytes queued to send: a read that counts bytes no write event has reported yet is held until that write is parsed (`outcome="after_write"`), so that the reply follows its request. A write that never comes (events lost to a full ring, bytes sent by `sendfile`) releases the hold at the next write that began after the read, after 200 ms (`hold_expired`), past 64 reads or 1 MiB per connection (`hold_full`), or at the connection's end. Only on the client side: a server's request read before its previous response's write is parsed at once (the parsers pair in order, and a request start must not wait). TLS plaintext is ordered by its thread's calls and is not held.)md"},
               {.name = "zerotrace_http2_frame_following_lost_total",
                .type = Type::kCounter,
                .help = "HTTP/2 frame following given up: by the kernel for one direction of a "
                        "connection (reason=kernel), or frame segments whose call was not seen "
                        "(reason=segment)",
                .labels = {{"reason", {"kernel", "segment"}}},
                .doc =
                    R"md(HTTP/2 frame following given up. In an HTTP/2 direction the kernel follows frame boundaries (9-byte headers only) so a call larger than the capture size still delivers its frame headers and header blocks (gRPC trailers after a large message, HPACK table updates). `reason="kernel"`: a direction stopped being followed (a frame header split over more than 3 iovecs, a frame past the 32nd iovec of a call, more than 16384 frames or 64 segments of up to the capture size in one call, bytes not seen such as sendfile across a frame header); later large calls of it may lose header blocks, and its requests then count as unparsed. `reason="segment"`: frame segments whose call event was lost. Needs `bpf_loop()` (Linux 5.17+); without it nothing is followed and the collector logs so at start.)md"},
               {.name = "zerotrace_tls_calls_unattributed_total",
                .type = Type::kCounter,
                .help = "SSL_read/SSL_write calls (OpenSSL uprobes) whose socket was never found: "
                        "their plaintext is not parsed",
                .doc =
                    R"md(SSL_read/SSL_write calls (OpenSSL uprobes) whose socket was never found, so their plaintext is not parsed: no socket I/O under the call (OpenSSL on a socket) and no read of a TLS socket by the same thread just before the SSL object's first read or handshake (OpenSSL over memory BIOs, as in Python asyncio). Requests in such calls are not recorded, on that side only. Expected 0; a rising value names a TLS stack the link does not cover.)md"},
               {.name = "zerotrace_unknown_protocol_connections_total",
                .type = Type::kCounter,
                .help = "Connections whose protocol was not recognised (ignored)",
                .doc =
                    R"md(Connections whose protocol was not recognised; their bytes are ignored.)md"},
           },
       .outro = R"md()md"},
      {.title = "GPU (CUDA)",
       .intro = R"md()md",
       .metrics =
           {
               {.name = "zerotrace_gpu_kernel_launches_total",
                .type = Type::kCounter,
                .help = "CUDA kernel launches seen in the driver API (cuLaunchKernel*)",
                .per_service = true,
                .labels = {{"kernel"}},
                .doc =
                    R"md(Kernel launches (`cuLaunchKernel*` uprobes, or CUPTI records when the injector is loaded).)md"},
               {.name = "zerotrace_gpu_kernel_duration_seconds",
                .type = Type::kHistogram,
                .help = "GPU execution time of CUDA kernels (CUPTI kernel records)",
                .per_service = true,
                .labels = {{"kernel"}},
                .buckets = Buckets::kGpuSeconds,
                .doc =
                    R"md(GPU execution time of kernels (CUPTI activity records; needs `libzerotrace_cupti.so`).)md"},
               {.name = "zerotrace_gpu_memcpy_bytes_total",
                .type = Type::kCounter,
                .help = "Bytes copied by CUDA memcpy operations, by direction",
                .per_service = true,
                .labels = {{"kind"}},
                .doc = R"md(Bytes copied by direction (`kind`, e.g. `HtoD`, `DtoH`, `DtoD`).)md"},
               {.name = "zerotrace_gpu_memcpy_duration_seconds",
                .type = Type::kHistogram,
                .help = "Duration of CUDA memcpy operations (GPU time with CUPTI, else time in the "
                        "driver call)",
                .per_service = true,
                .labels = {{"kind"}},
                .buckets = Buckets::kGpuSeconds,
                .doc = R"md(Duration of memory copies on the GPU.)md"},
               {.name = "zerotrace_gpu_memory_allocated_bytes",
                .type = Type::kGauge,
                .help = "Device memory allocated and not yet freed, per process",
                .per_service = true,
                .doc =
                    R"md(Device memory currently allocated through `cuMemAlloc*` and not freed (outstanding bytes per process). Steady growth = leak.)md"},
               {.name = "zerotrace_gpu_busy_seconds_total",
                .type = Type::kCounter,
                .help = "Time the GPU executed at least one traced kernel",
                .labels = {{"device"}},
                .doc =
                    R"md(Time at least one kernel was running on the device. `rate()` = utilisation 0..1.)md"},
               {.name = "zerotrace_cuda_sync_wait_seconds_total",
                .type = Type::kCounter,
                .help = "CPU time blocked in CUDA synchronization calls",
                .per_service = true,
                .labels = {{"call",
                            {"context", "stream", "event", "stream_wait_event", "unknown"}}},
                .doc =
                    R"md(CPU time blocked waiting for the GPU: `call` = `context` (`cuCtxSynchronize`), `stream` (`cuStreamSynchronize`), `event` (`cuEventSynchronize`), `stream_wait_event` (CUPTI only), `unknown`.)md"},
           },
       .outro =
           R"md(`k8s_*`: on Kubernetes, `k8s_namespace_name`, `k8s_pod_name`, `k8s_container_name` and
`k8s_node_name` of the process, as on the RED and syscall series (absent off Kubernetes). Both
duration histograms have the buckets 1, 5, 10, 50, 100, 250, 500 µs, 1, 2.5, 5, 10, 25, 50,
100, 500 ms, 1 and 5 s.

The per-service GPU series (launches, kernel duration, memcpy bytes and duration, sync wait)
follow the same rule as the RED and syscall series: a series not updated for 10 minutes is
removed and restarts at 0 (a counter reset to Prometheus), so finished jobs and rolled-out pods
do not stay in `/metrics`. A service idle that long also forgets which 100 kernel names it was
given before `kernel="other"`. `zerotrace_gpu_memory_allocated_bytes` leaves with its process;
`zerotrace_gpu_busy_seconds_total` is per device and stays.)md"},
      {.title = "Collector self-metrics",
       .intro = R"md()md",
       .metrics =
           {
               {.name = "zerotrace_build_info",
                .type = Type::kGauge,
                .help = "zerotrace build and host information; always 1",
                .type_note = "(always 1)",
                .labels = {{"version"}, {"git_commit"}, {"kernel"}},
                .doc = R"md(Build and running kernel of the collector.)md"},
               {.name = "zerotrace_bpf_prog_run_seconds_total",
                .type = Type::kCounter,
                .help = "CPU time spent in each BPF program (kernel BPF stats)",
                .labels = {{"prog"}},
                .doc =
                    R"md(CPU time spent in each BPF program (kernel `run_time_ns`). With `bpf_stats: true` (`--bpf-stats true`; 5.8+) zerotrace turns the kernel's statistics on while it runs; by default (`false`: the switch is global and costs every BPF program on the host two clock reads per run) these stay empty unless `kernel.bpf_stats_enabled=1`. The collector's in-kernel overhead.)md"},
               {.name = "zerotrace_bpf_prog_runs_total",
                .type = Type::kCounter,
                .help = "Times each BPF program ran (kernel BPF stats)",
                .labels = {{"prog"}},
                .doc = R"md(Invocations of each BPF program (`run_cnt`, same requirement).)md"},
               {.name = "zerotrace_events_total",
                .type = Type::kCounter,
                .help = "Events recorded by each probe",
                .labels = {{"probe"}},
                .doc = R"md(Events received from the kernel per probe.)md"},
               {.name = "zerotrace_events_lost_total",
                .type = Type::kCounter,
                .help = "Events the kernel side could not record (full maps or ring buffers)",
                .labels = {{"probe"}},
                .doc =
                    R"md(Events dropped because a ring buffer or map was full. Every bound in the design is counted here. For the profilers: samples or blocks not counted at all.)md"},
               {.name = "zerotrace_stacks_lost_total",
                .type = Type::kCounter,
                .help = "Profiling samples counted without (part of) their stack: stack map "
                        "collisions or a full map",
                .labels = {{"probe", {"oncpu", "offcpu"}}},
                .doc =
                    R"md(Profiling samples counted (in the totals and flamegraphs) without their kernel or user stack: the stack map bucket was taken by another stack (hash collision), the map was full, or the id was gone before it was read. Such samples show a `[lost user stack]` or `[lost kernel stack]` frame. Rises with the number of distinct stacks on the node (a compile job next to a server: hundreds per second); not an `events_lost` alert.)md"},
               {.name = "zerotrace_probe_attached",
                .type = Type::kGauge,
                .help = "1 when the probe's BPF programs are loaded and attached",
                .type_note = "(0/1)",
                .labels = {{"probe"}},
                .doc = R"md(Whether the probe is attached.)md"},
               {.name = "zerotrace_uprobe_targets",
                .type = Type::kGauge,
                .help = "Library files with the probe's uprobes attached now (libssl, libcuda, "
                        "the CUPTI injector; one per process with a pid selection)",
                .labels = {{"probe", {"sockets", "cuda", "cupti"}}},
                .doc =
                    R"md(Library files the probe's uprobes are attached to now: each distinct `libssl` for the sockets probe's TLS capture, `libcuda.so.1` for `cuda`, the CUPTI injection library for `cupti` (with a pid selection, each file counts once per selected process that maps it). Found by scanning processes' mappings every 5th interval (and at a traced process's exec or first connection for libssl); files no process maps any more are detached. 0 while a GPU or TLS workload runs means its library was not found: a statically linked or renamed library, or a `--proc-root` that does not show the host's processes.)md"},
               {.name = "zerotrace_probe_attach_mode",
                .type = Type::kGauge,
                .help = "The attach path each probe took after feature probing; always 1",
                .type_note = "(always 1)",
                .labels = {{"probe"}, {"mode"}},
                .doc =
                    R"md(Which attach path a probe uses (e.g. `tracepoint`, `kprobe`, `fentry`, `uprobe`, `perf_event`).)md"},
               {.name = "zerotrace_spans_exported_total",
                .type = Type::kCounter,
                .help = "Spans accepted by the OTLP endpoint",
                .doc = R"md(Spans accepted by the OTLP endpoint.)md"},
               {.name = "zerotrace_spans_dropped_total",
                .type = Type::kCounter,
                .help = "Spans dropped before export, by reason",
                .labels = {{"reason", {"queue_full", "export_failed", "shutdown"}}},
                .doc =
                    R"md(Spans not exported: `queue_full` (the export queue was full), `export_failed` (the endpoint refused them or stayed unreachable through the retries), `shutdown` (still queued when the daemon stopped).)md"},
               {.name = "process_cpu_seconds_total",
                .type = Type::kCounter,
                .help = "Total user and system CPU time spent by zerotrace in seconds",
                .doc =
                    R"md(User + system CPU time of the collector process (standard Prometheus process metric).)md"},
               {.name = "process_resident_memory_bytes",
                .type = Type::kGauge,
                .help = "Resident memory size of zerotrace in bytes",
                .doc = R"md(Resident memory of the collector process.)md"},
               {.name = "process_start_time_seconds",
                .type = Type::kGauge,
                .help = "Start time of zerotrace since the Unix epoch in seconds",
                .doc = R"md(Start time of the collector, seconds since the Unix epoch.)md"},
               {.name = "zerotrace_untrusted_files_refused_total",
                .type = Type::kCounter,
                .help = "Files named by traced processes that were not read, by reason",
                .labels = {{"reason", {"not_regular", "too_large", "unsafe_path"}}},
                .doc =
                    R"md(Files that traced processes name (binaries and libraries in their maps, debug links, `/tmp/perf-PID.map`) and that the collector refused to read: `not_regular` (a FIFO, device or folder at that path), `too_large` (an executable or library over 1.75 GiB, a perf map over 128 MiB), `unsafe_path` (a symbolic link where the file cannot be one, such as the perf map; or, on kernels without `openat2`, any link or `..` under a container's root). Lookups under `/proc/PID/root` stay inside the container's root, so a link there never reaches a host file. Frames in those files stay unnamed. A rising count means a workload plants such files.)md"},
               {.name = "zerotrace_symbolizer_memory_bytes",
                .type = Type::kGauge,
                .help =
                    "Heap bytes the profilers' symbolizers hold (symbol tables and frame caches)",
                .labels = {{"symbolizer", {"kernel", "user"}}},
                .doc =
                    R"md(Heap bytes the profilers' symbolizers hold: `kernel` the kallsyms table (about 16 bytes a text symbol plus its name), `user` the ELF symbol tables of the binaries seen in stacks (least recently used first out past 512 files or 64 MiB) plus the cache of resolved frames (65,536 frames over all processes). Bounded by those limits; a value stuck near them on a node with many distinct binaries is expected.)md"},
               {.name = "zerotrace_unwind_table_rows",
                .type = Type::kGauge,
                .help = "CFI rows the kernel holds for walking user stacks (used, capacity)",
                .labels = {{"state", {"used", "capacity"}}},
                .doc =
                    R"md(Rows of call-frame information (from each mapped file's `.eh_frame`, 12 bytes each) the on-CPU and off-CPU profilers' stack walker holds in the kernel: `used` for the files mapped by the described processes (a file shared by many processes counts once), `capacity` the table size (`profiling.unwind.max_rows`, default 1,048,576 = 12 MiB). Files that no longer fit are walked by frame pointers (`zerotrace_unwind_skipped_total{reason="table_full"}`).)md"},
               {.name = "zerotrace_unwind_table_entries",
                .type = Type::kGauge,
                .help = "Files and processes the stack walker's tables describe",
                .labels = {{"kind", {"files", "processes", "python_processes"}}},
                .doc =
                    R"md(Files whose CFI rows are loaded (one per distinct file, by device, inode, size and mtime) and processes whose executable mappings are described to the kernel (at most 1,024 at once, 8 KiB each); `python_processes` those of them running a CPython (3.8-3.13) whose Python frames are walked.)md"},
               {.name = "zerotrace_unwind_skipped_total",
                .type = Type::kCounter,
                .help = "Files and processes the stack walker could not describe, by reason",
                .labels = {{"what", {"file", "process"}},
                           {"reason",
                            {"no_cfi", "unreadable", "too_many_rows", "table_full",
                             "too_many_mappings", "python_version"}}},
                .doc =
                    R"md(Files (`what="file"`) without `.eh_frame_hdr` (`no_cfi`; their frames follow frame pointers), refused or not ELF (`unreadable`), with more than 4,194,304 rows (`too_many_rows`), or that did not fit in the row table (`table_full`); processes (`what="process"`) with more than 256 executable mappings (`too_many_mappings`: the program and the 254 highest are described, the walk stops in the others) or that did not fit in the process table (`table_full`: walked by frame pointers); interpreter files (`what="file"`) of a CPython version whose frames are not read (`python_version`: before 3.8 or after 3.13; their processes' stacks show the interpreter's C frames only).)md"},
               {.name = "zerotrace_unwind_python_frames_total",
                .type = Type::kCounter,
                .help = "Python frames the profilers' stack walker recorded, or could not",
                .labels = {{"probe", {"oncpu", "offcpu"}},
                           {"outcome", {"recorded", "no_thread", "read_fault"}}},
                .doc =
                    R"md(Python frames put into user stacks in place of the interpreter's eval-loop C frames (`recorded`); samples of a CPython process whose thread state was not found in that sample's search (`no_thread`: 64 thread states are searched per sample, so a thread of a process with many is found within a few samples and then remembered; that stack shows C frames only); frame chains that could not be read (`read_fault`: the C frame is kept, and the rest of that stack has no Python frames). See docs/profiling.md, Python frames.)md"},
               {.name = "zerotrace_unwind_walks_total",
                .type = Type::kCounter,
                .help = "User stacks walked by the profilers, by outcome",
                .labels = {{"probe", {"oncpu", "offcpu"}},
                           {"outcome", {"complete", "truncated", "stopped", "undescribed"}}},
                .doc =
                    R"md(User-stack walks of the on-CPU and off-CPU profilers: `complete` reached the outermost frame (`_start`, a thread's start), `truncated` hit 127 frames, `stopped` ended early (unreadable stack memory, a rule the walker does not evaluate, no progress), `undescribed` a sample of a process not described yet (its stack was taken by frame pointers; it is described within a second). `complete / (complete + truncated + stopped)` is the share of full stacks.)md"},
               {.name = "zerotrace_syscall_map_entries",
                .type = Type::kGauge,
                .help = "(process, syscall) entries held in the kernel map; entries of exited "
                        "processes are removed",
                .doc =
                    R"md((process, syscall) entries in the kernel map; entries of exited processes are removed, so this follows the live process count.)md"},
               {.name = "zerotrace_spans_built_total",
                .type = Type::kCounter,
                .help = "Spans built from completed requests, before sampling",
                .labels = {{"kind", {"server", "client"}}},
                .doc =
                    R"md(Spans built from completed requests (server and client side), before sampling.)md"},
               {.name = "zerotrace_spans_sampled_out_total",
                .type = Type::kCounter,
                .help = "Spans built but not exported because the sampler dropped them",
                .doc =
                    R"md(Spans built but not exported because the sampler dropped them (`tracing.sampler`).)md"},
               {.name = "zerotrace_propagation_requests_total",
                .type = Type::kCounter,
                .help = "HTTP/1 requests of traced processes the traceparent propagation looked "
                        "at, by outcome",
                .labels = {{"outcome",
                            {"injected_thread", "injected_new", "had_traceparent", "head_not_whole",
                             "push_failed"}}},
                .doc =
                    R"md(Only with `otlp.propagate_traceparent` on (docs/tracing.md, Propagation). HTTP/1 requests written by traced processes on client connections the propagation follows: a `traceparent` inserted in the trace of the request the writing thread serves (`injected_thread`) or in a new trace (`injected_new`: the thread serves no request, serves several at once, or its process is a Go program or hands requests between threads); left alone because the request already carries one (`had_traceparent`), because its head does not end within the write's first 1,024 bytes (`head_not_whole`: a traceparent could be further on), or because the kernel could not insert the bytes (`push_failed`).)md"},
               {.name = "zerotrace_propagation_connections_untracked_total",
                .type = Type::kCounter,
                .help = "TCP connections the traceparent propagation could not follow (its "
                        "table of 65,536 connections was full)",
                .doc =
                    R"md(Only with `otlp.propagate_traceparent` on. Client TCP connections established while the propagation's connection table (65,536 entries, emptied as connections close) was full: their requests leave without a `traceparent`.)md"},
               {.name = "zerotrace_otlp_export_requests_total",
                .type = Type::kCounter,
                .help = "OTLP export HTTP requests, by result",
                .labels = {{"result", {"success", "retryable_failure", "failure"}}},
                .doc =
                    R"md(OTLP/HTTP export requests by result: `success`, `retryable_failure` (429, 502, 503, 504 or a connection error: retried with back-off), `failure` (any other refusal: the batch is dropped and counted in `zerotrace_spans_dropped_total{reason="export_failed"}`).)md"},
           },
       .outro = R"md()md"},
      {.title = "Series generated by Prometheus",
       .intro = R"md(Not exported by zerotrace, but used by the shipped alerts and dashboards.)md",
       .metrics =
           {
               {.name = "up",
                .type = Type::kGauge,
                .help = "Whether the last scrape of the target succeeded",
                .type_note = "(0/1)",
                .labels = {{"job"}, {"instance"}},
                .doc =
                    R"md(Whether the last scrape of the target succeeded. The alerts expect the scrape job to be called `zerotrace` (the PodMonitor/ServiceMonitor set `jobLabel` so that it is).)md",
                .external = true},
           },
       .outro = R"md()md"},
  };
}

// `a` (`x`, `y`): a label and, for a closed one, its values.
std::string LabelCell(const Spec& spec) {
  std::vector<std::string> parts;
  if (spec.per_service) parts.push_back("`service_name`");
  for (const Label& l : spec.labels) {
    std::string cell = "`" + l.name + "`";
    if (!l.values.empty()) {
      cell += " (";
      for (size_t i = 0; i < l.values.size(); ++i) {
        cell += (i ? ", `" : "`") + l.values[i] + "`";
      }
      cell += ")";
    }
    parts.push_back(cell);
  }
  if (spec.per_service) parts.push_back("`k8s_*`");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}

}  // namespace

const std::vector<std::string>& K8sLabelNames() {
  static const std::vector<std::string> names = {"k8s_namespace_name", "k8s_pod_name",
                                                 "k8s_container_name", "k8s_node_name"};
  return names;
}

const std::vector<Section>& Catalog() {
  static const std::vector<Section> catalog = BuildCatalog();
  return catalog;
}

const Spec* Find(std::string_view name) {
  static const auto index = [] {
    std::unordered_map<std::string_view, const Spec*> m;
    for (const Section& s : Catalog()) {
      for (const Spec& spec : s.metrics) m.emplace(spec.name, &spec);
    }
    return m;
  }();
  auto it = index.find(name);
  return it == index.end() ? nullptr : it->second;
}

const std::vector<double>& BucketBoundaries(Buckets buckets) {
  static const std::vector<double> none;
  static const std::vector<double> otel = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                           0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};
  static const std::vector<double> log2 = [] {
    std::vector<double> b;
    for (int e = kLog2FirstExponent; e <= kLog2LastExponent; e += kLog2Step) {
      b.push_back(std::ldexp(1.0, e) / 1e9);
    }
    return b;
  }();
  static const std::vector<double> gpu = {1e-6, 5e-6, 1e-5,   5e-5, 1e-4, 2.5e-4,
                                          5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
                                          5e-2, 0.1,  0.5,    1,    5};
  switch (buckets) {
    case Buckets::kOtelSeconds:
      return otel;
    case Buckets::kLog2Seconds:
      return log2;
    case Buckets::kGpuSeconds:
      return gpu;
    case Buckets::kNone:
      break;
  }
  return none;
}

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string RenderMarkdown() {
  std::string out = std::string(kPreamble) + "\n";
  for (const Section& s : Catalog()) {
    out += "\n## " + s.title + "\n\n";
    if (!s.intro.empty()) out += s.intro + "\n\n";
    out += "| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n";
    for (const Spec& m : s.metrics) {
      std::string type(TypeName(m.type));
      if (!m.type_note.empty()) type += " " + m.type_note;
      out += "| `" + m.name + "` | " + type + " | " + LabelCell(m) + " | " + m.doc + " |\n";
    }
    if (!s.outro.empty()) out += "\n" + s.outro + "\n";
  }
  out += "\n" + std::string(kTrailer) + "\n";
  return out;
}

std::string RenderJson() {
  nlohmann::json metrics = nlohmann::json::array();
  for (const Section& s : Catalog()) {
    for (const Spec& m : s.metrics) {
      nlohmann::json labels = nlohmann::json::array();
      if (m.per_service) labels.push_back({{"name", "service_name"}, {"values", nullptr}});
      for (const Label& l : m.labels) {
        labels.push_back(
            {{"name", l.name},
             {"values", l.values.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.values)}});
      }
      nlohmann::json j = {
          {"name", m.name},        {"type", TypeName(m.type)},     {"help", m.help},
          {"section", s.title},    {"per_service", m.per_service}, {"labels", labels},
          {"external", m.external}};
      if (m.type == Type::kHistogram) j["buckets"] = BucketBoundaries(m.buckets);
      metrics.push_back(std::move(j));
    }
  }
  return nlohmann::json({{"k8s_labels", K8sLabelNames()}, {"metrics", metrics}}).dump(1) + "\n";
}

}  // namespace zerotrace::metrics
