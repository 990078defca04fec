#include "probes/sockets_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sys/syscall.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <thread>
#include <vector>

#include "probes/bpf_load.h"
#include "probes/bpf_util.h"
#include "probes/ssl_internals.h"
#include "sockets.skel.h"
#include "sockets_noloop.skel.h"

namespace zerotrace {

SocketsProbe::SocketsProbe(Features& features, ProcessFilter& filter, SocketsProbeOptions options,
                           Handler handler)
    : features_(features), filter_(filter), options_(options), handler_(std::move(handler)) {}

SocketsProbe::~SocketsProbe() {
  if (!skel_) return;
  std::vector<bpf_link*> links;
  if (tls_) links = tls_->ReleaseLinks();
  links.insert(links.end(), exit_links_.begin(), exit_links_.end());
  const bpf_object_skeleton* s = skel_->skeleton;
  for (int i = 0; i < s->prog_cnt; ++i) {
    if (s->progs[i].link && *s->progs[i].link) {
      links.push_back(*s->progs[i].link);
      *s->progs[i].link = nullptr;
    }
  }
  DestroyLinksConcurrently(links);
  sockets_bpf__destroy(skel_);
}

SocketsAttachMode ChooseSocketsAttachMode(Features& features) {
  if (features.Has(Feature::kSockTracepoints)) return SocketsAttachMode::kSockTracepoints;
  if (features.Has(Feature::kRawTracepoint)) {
    return features.Has(Feature::kTpBtf) ? SocketsAttachMode::kTpBtf
                                         : SocketsAttachMode::kRawTracepoint;
  }
  if (features.Has(Feature::kTracepoint)) return SocketsAttachMode::kTracepoint;
  return SocketsAttachMode::kUnavailable;
}

const char* AttachModeName(SocketsAttachMode mode) {
  switch (mode) {
    case SocketsAttachMode::kSockTracepoints:
      return "sock_tracepoints";
    case SocketsAttachMode::kTpBtf:
      return "tp_btf";
    case SocketsAttachMode::kRawTracepoint:
      return "raw_tracepoint";
    case SocketsAttachMode::kTracepoint:
      return "tracepoint";
    case SocketsAttachMode::kUnavailable:
      break;
  }
  return "unavailable";
}

const char* AttachModeHooks(SocketsAttachMode mode) {
  switch (mode) {
    case SocketsAttachMode::kSockTracepoints:
      return "sock:sock_send_length/sock_recv_length (socket I/O only; fd and buffer from the "
             "syscall's saved registers) + sock:inet_sock_set_state";
    case SocketsAttachMode::kTpBtf:
    case SocketsAttachMode::kRawTracepoint:
      return "raw_syscalls sys_exit (socket syscalls picked by number, arguments from the saved "
             "registers) + sys_enter_close";
    case SocketsAttachMode::kTracepoint:
      return "syscalls/sys_{enter,exit}_{accept4,connect,read,write,...} tracepoints";
    case SocketsAttachMode::kUnavailable:
      break;
  }
  return "none";
}

namespace {

// The programs of bpf/sockets.bpf.c that `mode` loads. The TLS uprobes and on_exec are loaded in
// every mode (the uprobes are attached per library later).
bool LoadedIn(SocketsAttachMode mode, const char* name) {
  if (std::strncmp(name, "tls_", 4) == 0 || std::strcmp(name, "on_exec") == 0) return true;
  switch (mode) {
    case SocketsAttachMode::kSockTracepoints:
      return std::strncmp(name, "sock_", 5) == 0;
    case SocketsAttachMode::kTpBtf:
      return std::strcmp(name, "btf_exit") == 0 || std::strcmp(name, "enter_close") == 0;
    case SocketsAttachMode::kRawTracepoint:
      return std::strcmp(name, "raw_exit") == 0 || std::strcmp(name, "enter_close") == 0;
    case SocketsAttachMode::kTracepoint:
      return std::strncmp(name, "enter_", 6) == 0 || std::strcmp(name, "exit_sock_call") == 0;
    case SocketsAttachMode::kUnavailable:
      break;
  }
  return false;
}

// The sockets_bpf skeleton over one of the two builds of bpf/sockets.bpf.c: with the HTTP/2
// frame walk (bpf_loop, 5.17+) or without it, for older kernels, which refuse a program that
// merely names a bpf_loop callback. The build checks that both have the same layout.
sockets_bpf* OpenSocketsSkeleton(bool h2_walk) {
  auto* skel = static_cast<sockets_bpf*>(calloc(1, sizeof(sockets_bpf)));
  if (!skel) return nullptr;
  if (sockets_bpf__create_skeleton(skel) != 0) {
    sockets_bpf__destroy(skel);
    return nullptr;
  }
  if (!h2_walk) skel->skeleton->data = sockets_noloop_bpf__elf_bytes(&skel->skeleton->data_sz);
  if (bpf_object__open_skeleton(skel->skeleton, nullptr) != 0) {
    sockets_bpf__destroy(skel);
    return nullptr;
  }
  return skel;
}

}  // namespace

Status SocketsProbe::Attach() {
  const SocketsAttachMode mode = ChooseSocketsAttachMode(features_);
  if (mode == SocketsAttachMode::kUnavailable) {
    return Error{"sockets: neither raw tracepoints nor syscall tracepoints are available (" +
                 features_.Answer(Feature::kTracepoint).detail + ")"};
  }
  if (!features_.Has(Feature::kRingBuffer)) {
    return Error{"sockets: BPF ring buffers are unavailable: " +
                 features_.Answer(Feature::kRingBuffer).detail};
  }
  const bool h2_walk = features_.Has(Feature::kBpfLoop);
  skel_ = OpenSocketsSkeleton(h2_walk);
  if (!skel_) return Error{std::string("sockets: cannot open BPF object: ") + std::strerror(errno)};
  skel_->rodata->capture_bytes =
      options_.capture_bytes > ZT_SOCK_MAX_CAPTURE ? ZT_SOCK_MAX_CAPTURE : options_.capture_bytes;
  skel_->rodata->self_tgid = options_.self_tgid;
  bpf_program* p;
  bpf_object__for_each_program(p, skel_->obj) {
    bpf_program__set_autoload(p, LoadedIn(mode, bpf_program__name(p)));
  }
  // Attached to many tracepoints by AttachSyscallExits, never by the skeleton.
  bpf_program__set_autoattach(skel_->progs.exit_sock_call, false);
  auto& ro = *skel_->rodata;
  ro.nr_read = SYS_read;
  ro.nr_write = SYS_write;
  ro.nr_readv = SYS_readv;
  ro.nr_writev = SYS_writev;
  ro.nr_recvfrom = SYS_recvfrom;
  ro.nr_sendto = SYS_sendto;
  ro.nr_recvmsg = SYS_recvmsg;
  ro.nr_sendmsg = SYS_sendmsg;
#ifdef SYS_accept
  ro.nr_accept = SYS_accept;
#endif
  ro.nr_accept4 = SYS_accept4;
  ro.nr_connect = SYS_connect;
  ro.nr_close = SYS_close;
  ro.nr_sendfile = SYS_sendfile;
  ro.nr_splice = SYS_splice;
  ro.h2_follow = h2_walk;
  ro.propagate = options_.propagate;
  if (!options_.propagate) {
    // Unused: no memory for them.
    bpf_map__set_max_entries(skel_->maps.prop_threads, 1);
    bpf_map__set_max_entries(skel_->maps.prop_injected, 1);
  }
  ro.task_btf = features_.Has(Feature::kTaskBtf);
  if (!h2_walk) {
    spdlog::info(
        "sockets: HTTP/2 frames in calls larger than the capture size are not followed ({})",
        features_.Answer(Feature::kBpfLoop).detail);
  }
  mode_ = mode;
  const int ncpu = libbpf_num_possible_cpus();
  const RingLayout rings = RingLayoutFor(ncpu, options_.ring_buffer_bytes);
  skel_->rodata->ring_count = rings.count;
  skel_->rodata->ring_wakeup_bytes = rings.bytes / 4;
  bpf_map__set_max_entries(skel_->maps.scratch, ncpu > 0 ? static_cast<__u32>(ncpu) : 1);
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  if (auto s = LoadBpfSkeleton(skel_->skeleton, "sockets"); !s) return s;
  if (auto s = CreateRings(rings); !s) return s;
  if (int err = sockets_bpf__attach(skel_); err) {
    return Error{std::string("sockets: attaching ") + AttachModeName(mode) +
                 " programs failed: " + std::strerror(-err)};
  }
  if (mode == SocketsAttachMode::kTracepoint) {
    if (auto s = AttachSyscallExits(); !s) return s;
  }
  tls_ = std::make_unique<TlsUprobeManager>(skel_, filter_);
  attached_ = true;
  return Status::Ok();
}

Status SocketsProbe::AttachSyscallExits() {
  // The syscalls whose sys_enter_* programs (bpf/sockets.bpf.c) saved arguments to finish.
  static constexpr const char* kExits[] = {
      "sys_exit_accept4", "sys_exit_accept",   "sys_exit_connect", "sys_exit_read",
      "sys_exit_write",   "sys_exit_recvfrom", "sys_exit_sendto",  "sys_exit_readv",
      "sys_exit_writev",  "sys_exit_recvmsg",  "sys_exit_sendmsg", "sys_exit_sendfile64",
      "sys_exit_splice"};
  for (const char* tp : kExits) {
    bpf_link* link = bpf_program__attach_tracepoint(skel_->progs.exit_sock_call, "syscalls", tp);
    if (!link) {
      return Error{std::string("sockets: attaching to tracepoint syscalls/") + tp +
                   " failed: " + std::strerror(errno)};
    }
    exit_links_.push_back(link);
  }
  return Status::Ok();
}

RingLayout RingLayoutFor(int cpus, uint64_t total_bytes) {
  RingLayout l;
  l.count = static_cast<uint32_t>(std::clamp(cpus, 1, ZT_SOCK_MAX_RINGS));
  // Power-of-two rings of at least 2 MiB (128 full-size events), together about total_bytes.
  uint64_t per = total_bytes / l.count;
  uint64_t bytes = 2 * 1024 * 1024;
  while (bytes * 2 <= per) bytes *= 2;
  l.bytes = bytes;
  return l;
}

Status SocketsProbe::CreateRings(const RingLayout& layout) {
  const int outer = bpf_map__fd(skel_->maps.events);
  for (uint32_t i = 0; i < layout.count; ++i) {
    const int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sock_ring", 0, 0,
                                  static_cast<__u32>(layout.bytes), nullptr);
    if (fd < 0) {
      return Error{"sockets: creating ring buffer " + std::to_string(i) + " (" +
                   std::to_string(layout.bytes >> 20) + " MiB) failed: " + std::strerror(errno) +
                   " (is the memlock limit too low?)"};
    }
    if (auto s = rings_.Add(fd, layout.bytes); !s) return Error{"sockets: " + s.message()};
    if (bpf_map_update_elem(outer, &i, &fd, BPF_ANY) != 0) {
      return Error{std::string("sockets: installing a ring buffer failed: ") +
                   std::strerror(errno)};
    }
  }
  return Status::Ok();
}

int SocketsProbe::prop_threads_fd() const {
  return skel_ && attached_ ? bpf_map__fd(skel_->maps.prop_threads) : -1;
}

int SocketsProbe::prop_injected_fd() const {
  return skel_ && attached_ ? bpf_map__fd(skel_->maps.prop_injected) : -1;
}

int SocketsProbe::AttachTlsLibraries(const std::string& proc_root) {
  return tls_ ? tls_->ScanAll(proc_root) : 0;
}

size_t SocketsProbe::uprobe_targets() const { return tls_ ? tls_->attached_files() : 0; }

void SocketsProbe::WatchTlsLibraries(const std::string& proc_root) {
  if (tls_) tls_->Watch(proc_root);
}

void SocketsProbe::OnEvent(const void* data, size_t size) {
  if (size < sizeof(sock_event_header)) {
    ++malformed_;
    return;
  }
  sock_event_header h;
  std::memcpy(&h, data, sizeof(h));
  if (h.captured > size - sizeof(h)) {
    ++malformed_;
    return;
  }
  ++events_seen_;
  if (h.type == SOCK_EVENT_EXEC) {
    if (tls_) tls_->OnExec(h.tgid);
    return;
  }
  if (h.type == SOCK_EVENT_OPEN && tls_) tls_->OnFirstConnection(h.tgid);
  handler_(h, static_cast<const uint8_t*>(data) + sizeof(h));
}

int SocketsProbe::Poll(int timeout_ms) {
  if (rings_.rings() == 0) return 0;
  // Events are written without waking us (see sockets.bpf.c) unless a ring fills, so the
  // timeout is the normal way out of the wait; whatever arrived is consumed either way.
  const int handed = rings_.Poll(timeout_ms, offsetof(sock_event_header, ts),
                                 [this](const void* data, size_t size) { OnEvent(data, size); });
  if (tls_) tls_->RunDueScans();
  return handed;
}

bool SocketsProbe::SetSkip(const sock_skip_key& key, const sock_skip_value& value) {
  if (!skel_) return false;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.skips), &key, &value, BPF_ANY) != 0) {
    return false;
  }
  skel_->bss->skips_active = true;
  return true;
}

void SocketsProbe::ClearSkip(const sock_skip_key& key) {
  if (skel_) bpf_map_delete_elem(bpf_map__fd(skel_->maps.skips), &key);
}

uint64_t SocketsProbe::tls_calls_unlinked() const {
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), SOCK_DROP_TLS_UNLINKED,
                                   SOCK_DROP_TLS_UNLINKED + 1)
               : 0;
}

uint64_t SocketsProbe::h2_framing_lost() const {
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), SOCK_DROP_H2_FRAMING,
                                   SOCK_DROP_H2_FRAMING + 1)
               : 0;
}

bpf_object* SocketsProbe::object() const { return skel_ ? skel_->obj : nullptr; }

uint64_t SocketsProbe::events_lost() const {
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), SOCK_DROP_RINGBUF,
                                   SOCK_DROP_H2_FRAMING)
               : 0;
}

}  // namespace zerotrace
