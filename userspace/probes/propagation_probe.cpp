#include "probes/propagation_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "probes/bpf_load.h"
#include "probes/sockets_probe.h"
#include "propagation.skel.h"

namespace zerotrace {

std::string FindCgroup2Root(const std::string& mounts) {
  std::istringstream in(mounts);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source, target, type;
    if (fields >> source >> target >> type && type == "cgroup2") return target;
  }
  return {};
}

PropagationProbe::PropagationProbe(Features& features, ProcessFilter& filter,
                                   const SocketsProbe* sockets, PropagationProbeOptions options)
    : features_(features), filter_(filter), sockets_(sockets), options_(std::move(options)) {}

PropagationProbe::~PropagationProbe() {
  // Detached first: the sockets in the sockhash leave the sk_msg path when the map goes.
  if (msg_attached_) {
    bpf_prog_detach2(bpf_program__fd(skel_->progs.zt_prop_msg), bpf_map__fd(skel_->maps.prop_socks),
                     BPF_SK_MSG_VERDICT);
  }
  if (sockops_link_) bpf_link__destroy(sockops_link_);
  if (cgroup_fd_ >= 0) close(cgroup_fd_);
  if (skel_) propagation_bpf__destroy(skel_);
}

bpf_object* PropagationProbe::object() const { return skel_ ? skel_->obj : nullptr; }

Status PropagationProbe::Attach() {
  if (!features_.Has(Feature::kBtf)) {
    return Error{"propagation: " + features_.Answer(Feature::kBtf).detail};
  }
  if (options_.cgroup.empty() && !options_.load_only) {
    std::ifstream f("/proc/self/mounts");
    std::stringstream text;
    text << f.rdbuf();
    options_.cgroup = FindCgroup2Root(text.str());
    if (options_.cgroup.empty()) {
      return Error{
          "propagation: no cgroup v2 hierarchy is mounted (sock_ops attaches to one; "
          "mount -t cgroup2 none /sys/fs/cgroup/unified, or set otlp.propagate_cgroup)"};
    }
  }
  cgroup_fd_ = open(options_.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup_fd_ < 0 && !options_.load_only) {
    return Error{"propagation: cannot open cgroup " + options_.cgroup + ": " +
                 std::strerror(errno) + " (a cgroup v2 directory is needed, e.g. /sys/fs/cgroup)"};
  }
  skel_ = propagation_bpf__open();
  if (!skel_) return Error{std::string("propagation: cannot open BPF object: ") + strerror(errno)};
  skel_->rodata->propagate = true;
  skel_->rodata->self_tgid = options_.self_tgid;
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  if (sockets_) {
    const int threads = sockets_->prop_threads_fd();
    const int injected = sockets_->prop_injected_fd();
    if (threads < 0 || injected < 0) {
      return Error{"propagation: the sockets probe is not attached (it owns the thread context)"};
    }
    if (bpf_map__reuse_fd(skel_->maps.prop_threads, threads) ||
        bpf_map__reuse_fd(skel_->maps.prop_injected, injected)) {
      return Error{"propagation: cannot share the sockets probe's maps"};
    }
  }
  if (auto s = LoadBpfSkeleton(skel_->skeleton, "propagation"); !s) return s;
  if (options_.load_only) {
    attached_ = true;
    return Status::Ok();
  }
  sockops_link_ = bpf_program__attach_cgroup(skel_->progs.zt_prop_sockops, cgroup_fd_);
  if (!sockops_link_) {
    return Error{"propagation: attaching sock_ops to " + options_.cgroup +
                 " failed: " + std::strerror(errno)};
  }
  if (bpf_prog_attach(bpf_program__fd(skel_->progs.zt_prop_msg),
                      bpf_map__fd(skel_->maps.prop_socks), BPF_SK_MSG_VERDICT, 0) != 0) {
    return Error{std::string("propagation: attaching sk_msg to the sockhash failed: ") +
                 std::strerror(errno)};
  }
  msg_attached_ = true;
  attached_ = true;
  return Status::Ok();
}

void PropagationProbe::SetThreadLinks(uint32_t tgid, bool allowed) {
  if (!attached_) return;
  const int fd = bpf_map__fd(skel_->maps.prop_links_ok);
  if (allowed) {
    const uint8_t one = 1;
    bpf_map_update_elem(fd, &tgid, &one, BPF_ANY);
  } else {
    bpf_map_delete_elem(fd, &tgid);
  }
}

std::array<uint64_t, PROP_STAT_MAX> PropagationProbe::Stats() const {
  std::array<uint64_t, PROP_STAT_MAX> out{};
  if (!attached_) return out;
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> per(static_cast<size_t>(ncpu));
  const int fd = bpf_map__fd(skel_->maps.prop_stats);
  for (uint32_t k = 0; k < PROP_STAT_MAX; ++k) {
    if (bpf_map_lookup_elem(fd, &k, per.data()) != 0) continue;
    for (uint64_t v : per) out[k] += v;
  }
  return out;
}

uint64_t PropagationProbe::events_lost() const { return Stats()[PROP_STAT_SOCKETS_FULL]; }

}  // namespace zerotrace
