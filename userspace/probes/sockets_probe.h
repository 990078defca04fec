#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/features.h"
#include "probes/capture_hints.h"
#include "probes/merged_ring_reader.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "probes/tls_uprobe_manager.h"
#include "sockets.h"

struct sockets_bpf;

namespace zerotrace {

// Preferred first: the sock I/O tracepoints run only on socket I/O; the others run a program on
// every syscall of the host (see bpf/sockets.bpf.c).
enum class SocketsAttachMode {
  kSockTracepoints,
  kTpBtf,
  kRawTracepoint,
  kTracepoint,
  kUnavailable
};
SocketsAttachMode ChooseSocketsAttachMode(Features& features);
const char* AttachModeName(SocketsAttachMode mode);
// What the mode hooks, in words (for `zerotrace probe`).
const char* AttachModeHooks(SocketsAttachMode mode);

struct SocketsProbeOptions {
  uint32_t capture_bytes = ZT_SOCK_MAX_CAPTURE;   // per read/write, at most ZT_SOCK_MAX_CAPTURE
  uint32_t ring_buffer_bytes = 16 * 1024 * 1024;  // all rings together (see RingLayoutFor)
  uint32_t self_tgid = 0;                         // excluded (the collector's own sockets)
  // traceparent propagation is on (a PropagationProbe shares this probe's maps): server reads
  // that begin a request set their thread's trace context, client writes report insertions.
  bool propagate = false;
};

// The event rings: one per CPU up to ZT_SOCK_MAX_RINGS (CPUs beyond share by cpu % count),
// each a power of two of at least 2 MiB, together about `total_bytes`.
struct RingLayout {
  uint32_t count = 1;
  uint64_t bytes = 0;
};
RingLayout RingLayoutFor(int cpus, uint64_t total_bytes);

// Loader for bpf/sockets.bpf.c: connection lifecycle and data events from sock or syscall
// tracepoints.
// Events are handed to `handler` from Poll(), on the caller's thread.
class SocketsProbe : public Probe, public CaptureHints {
 public:
  // `header` is followed by `header.captured` bytes of data.
  using Handler = std::function<void(const sock_event_header& header, const uint8_t* data)>;

  SocketsProbe(Features& features, ProcessFilter& filter, SocketsProbeOptions options,
               Handler handler);
  ~SocketsProbe() override;

  const char* name() const override { return "sockets"; }
  Status Attach() override;
  std::string attach_mode() const override {
    return AttachModeName(attached_ ? mode_ : SocketsAttachMode::kUnavailable);
  }
  bpf_object* object() const override;
  uint64_t events_lost() const override;
  // Connection directions whose HTTP/2 frames the kernel stopped following (see sockets.h).
  uint64_t h2_framing_lost() const;
  // SSL_read/SSL_write calls whose socket was never found (their plaintext is not parsed).
  uint64_t tls_calls_unlinked() const;

  // Attaches the OpenSSL uprobes to every libssl that a process maps and that is not covered yet
  // (a library file is covered for every process that maps it). Call periodically so libraries
  // loaded by processes started later are picked up. Returns the number of new libraries.
  int AttachTlsLibraries(const std::string& proc_root);
  // libssl files (per process with a pid selection) with the TLS uprobes attached now.
  size_t uprobe_targets() const override;
  // From now on, a process that execs or opens its first connection has its own mappings
  // scanned (from Poll()), so a libssl it brings is covered within milliseconds, not at the next
  // periodic AttachTlsLibraries().
  void WatchTlsLibraries(const std::string& proc_root);

  // Drains the ring buffer, waiting up to timeout_ms for the first event. Returns events handled.
  int Poll(int timeout_ms);

  bool SetSkip(const sock_skip_key& key, const sock_skip_value& value) override;
  void ClearSkip(const sock_skip_key& key) override;
  uint64_t events_seen() const { return events_seen_; }
  // The maps a PropagationProbe reuses (bpf/propagation/shared_maps.bpf.h); -1 before Attach().
  int prop_threads_fd() const;
  int prop_injected_fd() const;
  uint64_t malformed_events() const { return malformed_; }

 private:
  void OnEvent(const void* data, size_t size);
  Status CreateRings(const RingLayout& layout);
  // Tracepoint mode: the one exit program on each socket syscall's sys_exit_* tracepoint.
  Status AttachSyscallExits();

  Features& features_;
  ProcessFilter& filter_;
  SocketsProbeOptions options_;
  Handler handler_;
  sockets_bpf* skel_ = nullptr;
  MergedRingReader rings_;
  bool attached_ = false;
  std::vector<bpf_link*> exit_links_;  // AttachSyscallExits
  SocketsAttachMode mode_ = SocketsAttachMode::kUnavailable;
  std::unique_ptr<TlsUprobeManager> tls_;  // from Attach() on
  std::atomic<uint64_t> events_seen_{0};
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace zerotrace
