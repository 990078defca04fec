#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "core/features.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "sockets.h"

struct sockets_bpf;
struct ring_buffer;

namespace zerotrace {

struct SocketsProbeOptions {
  uint32_t capture_bytes = ZT_SOCK_MAX_CAPTURE;  // per read/write, at most ZT_SOCK_MAX_CAPTURE
  uint32_t ring_buffer_bytes = 16 * 1024 * 1024;  // power of two
  uint32_t self_tgid = 0;                          // excluded (the collector's own sockets)
};

// Loader for bpf/sockets.bpf.c: connection lifecycle and data events from syscall tracepoints.
// Events are handed to `handler` from Poll(), on the caller's thread.
class SocketsProbe : public Probe {
 public:
  // `header` is followed by `header.captured` bytes of data.
  using Handler = std::function<void(const sock_event_header& header, const uint8_t* data)>;

  SocketsProbe(Features& features, ProcessFilter& filter, SocketsProbeOptions options,
               Handler handler);
  ~SocketsProbe() override;

  const char* name() const override { return "sockets"; }
  Status Attach() override;
  std::string attach_mode() const override { return attached_ ? mode_ : "unavailable"; }
  bpf_object* object() const override;
  uint64_t events_lost() const override;

  // Drains the ring buffer, waiting up to timeout_ms for the first event. Returns events handled.
  int Poll(int timeout_ms);
  uint64_t events_seen() const { return events_seen_; }
  uint64_t malformed_events() const { return malformed_; }

 private:
  static int OnEvent(void* ctx, void* data, size_t size);

  Features& features_;
  ProcessFilter& filter_;
  SocketsProbeOptions options_;
  Handler handler_;
  sockets_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  bool attached_ = false;
  std::string mode_;
  std::atomic<uint64_t> events_seen_{0};
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace zerotrace
