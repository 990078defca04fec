#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "core/features.h"
#include "probes/probe.h"
#include "probes/process_filter.h"
#include "propagation.h"

struct propagation_bpf;

namespace zerotrace {

class SocketsProbe;

// Where the cgroup v2 hierarchy is mounted ("/sys/fs/cgroup", "/sys/fs/cgroup/unified" on a
// hybrid host), from `mounts` (the text of /proc/self/mounts); empty when it is not mounted.
std::string FindCgroup2Root(const std::string& mounts);

struct PropagationProbeOptions {
  // cgroup v2 directory whose processes' new TCP connections are followed (sock_ops attaches
  // there): empty = the cgroup v2 root (the whole host), a workload's cgroup to confine the
  // sk_msg path to it.
  std::string cgroup;
  uint32_t self_tgid = 0;  // the collector: never touched
  // Load the programs (the verifier's verdict) but attach nothing: `zerotrace probe` must not
  // change any request on the host.
  bool load_only = false;
};

// Loader for bpf/propagation.bpf.c: inserts a W3C traceparent into HTTP/1 requests that leave
// traced processes without one (bpf/propagation.h, docs/tracing.md). Shares its thread-context
// maps with the sockets probe, which must be attached first (without one, as in `zerotrace
// probe`, it has maps of its own and only proves the programs load).
class PropagationProbe : public Probe {
 public:
  PropagationProbe(Features& features, ProcessFilter& filter, const SocketsProbe* sockets,
                   PropagationProbeOptions options);
  ~PropagationProbe() override;
  PropagationProbe(const PropagationProbe&) = delete;
  PropagationProbe& operator=(const PropagationProbe&) = delete;

  const char* name() const override { return "propagation"; }
  Status Attach() override;
  std::string attach_mode() const override { return attached_ ? "sk_msg" : "unavailable"; }
  // The cgroup sock_ops is attached to (after Attach()).
  const std::string& cgroup() const { return options_.cgroup; }
  bpf_object* object() const override;
  // Connections that could not be followed (the sockhash was full).
  uint64_t events_lost() const override;

  // Whether the threads of process `tgid` name the request they serve (SpanBuilder's verdict:
  // not a Go program, requests do not move between threads). Until it is given, insertions of
  // that process start new traces.
  void SetThreadLinks(uint32_t tgid, bool allowed);

  // Cumulative counts by enum prop_stat.
  std::array<uint64_t, PROP_STAT_MAX> Stats() const;

 private:
  Features& features_;
  ProcessFilter& filter_;
  const SocketsProbe* sockets_;
  PropagationProbeOptions options_;
  propagation_bpf* skel_ = nullptr;
  bpf_link* sockops_link_ = nullptr;
  int cgroup_fd_ = -1;
  bool msg_attached_ = false;
  bool attached_ = false;
};

}  // namespace zerotrace
