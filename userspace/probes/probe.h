#pragma once

#include <bpf/libbpf.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace zerotrace {

// What every probe loader offers the daemon: attach, report how, expose its programs for the
// kernel's run-time statistics and its drop counts. Detaching happens in the destructor.
class Probe {
 public:
  virtual ~Probe() = default;
  virtual const char* name() const = 0;
  virtual Status Attach() = 0;
  // The path the loader chose after feature probing ("raw_tracepoint", "tracepoint", ...).
  virtual std::string attach_mode() const = 0;
  virtual bpf_object* object() const = 0;
  // Events the kernel side could not record (full maps or ring buffers), cumulative.
  virtual uint64_t events_lost() const = 0;
  // Library files with this probe's uprobes attached now (a file per process with a pid
  // selection): libssl for sockets' TLS capture, libcuda, the CUPTI injector. 0 for probes
  // without uprobes.
  virtual size_t uprobe_targets() const { return 0; }
};

// Deleter for libbpf skeletons, so a probe owns its skeleton in a unique_ptr.
template <typename Skel, void (*Destroy)(Skel*)>
struct SkelDeleter {
  void operator()(Skel* s) const { Destroy(s); }
};

}  // namespace zerotrace
