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

#include "probes/bpf_util.h"
#include "probes/ssl_internals.h"
#include "sockets.skel.h"

namespace zerotrace {

SocketsProbe::SocketsProbe(Features& features, ProcessFilter& filter, SocketsProbeOptions options,
                           Handler handler)
    : features_(features), filter_(filter), options_(options), handler_(std::move(handler)) {}

SocketsProbe::~SocketsProbe() {
  if (!skel_) return;
  std::vector<bpf_link*> links;
  for (auto& [key, file] : tls_attached_) {
    links.insert(links.end(), file.links.begin(), file.links.end());
  }
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
      return std::strncmp(name, "enter_", 6) == 0 || std::strncmp(name, "exit_", 5) == 0;
    case SocketsAttachMode::kUnavailable:
      break;
  }
  return false;
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
  skel_ = sockets_bpf__open();
  if (!skel_) return Error{std::string("sockets: cannot open BPF object: ") + std::strerror(errno)};
  skel_->rodata->capture_bytes =
      options_.capture_bytes > ZT_SOCK_MAX_CAPTURE ? ZT_SOCK_MAX_CAPTURE : options_.capture_bytes;
  skel_->rodata->self_tgid = options_.self_tgid;
  bpf_program* p;
  bpf_object__for_each_program(p, skel_->obj) {
    bpf_program__set_autoload(p, LoadedIn(mode, bpf_program__name(p)));
  }
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
  ro.h2_follow = features_.Has(Feature::kBpfLoop);
  if (!ro.h2_follow) {
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
  if (int err = sockets_bpf__load(skel_); err) {
    return Error{std::string("sockets: loading BPF programs failed: ") + std::strerror(-err)};
  }
  if (auto s = CreateRings(rings); !s) return s;
  if (int err = sockets_bpf__attach(skel_); err) {
    return Error{std::string("sockets: attaching ") + AttachModeName(mode) +
                 " programs failed: " + std::strerror(-err)};
  }
  attached_ = true;
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

bool SocketsProbe::TlsPerProcess() const { return filter_.enabled() && !filter_.by_comm(); }

std::string SocketsProbe::TlsKey(const std::string& file, int pid) {
  return pid < 0 ? file : file + "@" + std::to_string(pid);
}

int SocketsProbe::AttachTlsLibraries(const std::string& proc_root) {
  if (!attached_) return 0;
  LibsslScanner scanner(proc_root);
  std::set<std::string> mapped;
  int added = 0;
  if (!TlsPerProcess()) {
    const LibsslScanner::Files found = scanner.All();
    for (const auto& [file, path] : found) mapped.insert(TlsKey(file, -1));
    added = AttachTlsFiles(found, -1);
  } else {
    for (uint32_t pid : filter_.TracedPids()) {
      const LibsslScanner::Files found = scanner.Of(pid);
      for (const auto& [file, path] : found) mapped.insert(TlsKey(file, static_cast<int>(pid)));
      added += AttachTlsFiles(found, static_cast<int>(pid));
    }
  }
  // A full scan knows every file still mapped: the links of the others go. Each uprobe pins its
  // file's inode, so a deleted container layer's libssl would otherwise never be freed, and a
  // node that runs many short-lived containers would gather links without end.
  std::vector<bpf_link*> gone;
  {
    std::lock_guard lock(tls_mu_);
    for (auto it = tls_attached_.begin(); it != tls_attached_.end();) {
      if (mapped.count(it->first)) {
        ++it;
        continue;
      }
      if (!it->second.links.empty()) {
        spdlog::info("sockets: TLS probes detached from {} (no traced process maps it now)",
                     it->second.path);
      }
      gone.insert(gone.end(), it->second.links.begin(), it->second.links.end());
      it = tls_attached_.erase(it);
    }
  }
  DestroyLinksConcurrently(gone);
  return added;
}

size_t SocketsProbe::tls_libraries() const {
  std::lock_guard lock(tls_mu_);
  return tls_attached_.size();
}

void SocketsProbe::WatchTlsLibraries(const std::string& proc_root) {
  if (!attached_ || tls_watch_) return;
  tls_watch_ = std::make_unique<LibsslScanner>(proc_root);
  skel_->bss->tls_watch_exec = true;
}

void SocketsProbe::RunDueTlsScans() {
  if (!tls_watch_) return;
  const std::vector<uint32_t> due = tls_watch_->TakeDue(LibsslScanner::Clock::now());
  if (due.empty()) return;
  if (TlsPerProcess()) {
    const std::vector<uint32_t> traced = filter_.TracedPids();
    for (uint32_t pid : due) {
      if (std::find(traced.begin(), traced.end(), pid) == traced.end()) continue;
      AttachTlsFiles(tls_watch_->Of(pid), static_cast<int>(pid));
    }
    return;
  }
  LibsslScanner::Files found;
  for (uint32_t pid : due) found.merge(tls_watch_->Of(pid));
  if (!found.empty()) AttachTlsFiles(found, -1);
}

int SocketsProbe::AttachTlsFiles(const LibsslScanner::Files& found, int pid) {
  if (!attached_) return 0;
  struct Target {
    bpf_program* prog;
    const char* func;
    bool ret;
  };
  const Target public_targets[] = {
      {skel_->progs.tls_read_enter, "SSL_read", false},
      {skel_->progs.tls_read_exit, "SSL_read", true},
      {skel_->progs.tls_write_enter, "SSL_write", false},
      {skel_->progs.tls_write_exit, "SSL_write", true},
      {skel_->progs.tls_read_ex_enter, "SSL_read_ex", false},
      {skel_->progs.tls_read_ex_exit, "SSL_read_ex", true},
      {skel_->progs.tls_write_ex_enter, "SSL_write_ex", false},
      {skel_->progs.tls_write_ex_exit, "SSL_write_ex", true},
  };
  // The internal functions have the _ex signature (s, buf, num, size_t* count).
  const Target internal_targets[] = {
      {skel_->progs.tls_read_ex_enter, nullptr, false},
      {skel_->progs.tls_read_ex_exit, nullptr, true},
      {skel_->progs.tls_write_ex_enter, nullptr, false},
      {skel_->progs.tls_write_ex_exit, nullptr, true},
  };
  // An operator's way back to the public functions (ZEROTRACE_TLS_PUBLIC_FUNCTIONS=1).
  const char* force_public = std::getenv("ZEROTRACE_TLS_PUBLIC_FUNCTIONS");
  const bool try_internal = !(force_public && std::string(force_public) == "1");
  std::lock_guard lock(tls_mu_);
  int added = 0;
  for (const auto& [file, path] : found) {
    const std::string key = TlsKey(file, pid);
    if (tls_attached_.count(key)) continue;
    TlsFile& attached = tls_attached_[key];
    attached.path = path;
    std::vector<bpf_link*>& links = attached.links;
    // Before the first uprobe can fire, so syscalls under an SSL call are tied to it from the
    // start.
    skel_->bss->tls_probes_attached = true;
    // ssl_read_internal/ssl_write_internal when they can be found: one probe site per
    // direction, and one the kernel emulates instead of single-stepping (see ssl_internals.h).
    const std::optional<SslInternals> internals =
        try_internal ? FindSslInternals(path) : std::nullopt;
    auto attach = [&](const Target& t, uint64_t offset) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = t.ret, .func_name = t.func);
      // pid -1: every process mapping this file (a comm selection or none); the kernel-side
      // selection filters them. With a pid selection the uprobe goes into those processes only:
      // other processes using the same libssl take no trap on each SSL call.
      bpf_link* link = bpf_program__attach_uprobe_opts(t.prog, pid, path.c_str(), offset, &opts);
      if (link) links.push_back(link);
      return link != nullptr;
    };
    int ok = 0;
    if (internals) {
      for (size_t i = 0; i < std::size(internal_targets); ++i) {
        ok += attach(internal_targets[i], i < 2 ? internals->read_offset : internals->write_offset);
      }
      if (ok != static_cast<int>(std::size(internal_targets))) {
        spdlog::warn("sockets: {}: internal SSL functions not probed, using the public ones", path);
        for (bpf_link* l : links) bpf_link__destroy(l);
        links.clear();
        ok = 0;
      }
    }
    const bool internal = ok > 0;
    if (!internal) {
      for (const auto& t : public_targets) ok += attach(t, 0);
    }
    if (ok) {
      ++added;
      const char* where = internal ? "internal read/write functions" : "public SSL functions";
      if (pid < 0) {
        spdlog::info("sockets: TLS plaintext capture attached to {} ({} probes, {})", path, ok,
                     where);
      } else {
        spdlog::info("sockets: TLS plaintext capture attached to {} in pid {} ({} probes, {})",
                     path, pid, ok, where);
      }
    } else {
      spdlog::warn("sockets: could not attach TLS probes to {}", path);
    }
  }
  return added;
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
    // ld.so maps the libraries right after exec: look twice, soon and a little later.
    if (auto* w = tls_watch_.get()) {
      const auto now = LibsslScanner::Clock::now();
      w->Queue(h.tgid, std::chrono::milliseconds(20), now);
      w->Queue(h.tgid, std::chrono::milliseconds(500), now);
    }
    return;
  }
  // A process started before zerotrace (no exec seen) or one that loaded libssl late (dlopen):
  // its first connection is the moment it may start speaking TLS.
  if (h.type == SOCK_EVENT_OPEN && tls_watch_) {
    tls_watch_->QueueFirstSeen(h.tgid, LibsslScanner::Clock::now());
  }
  handler_(h, static_cast<const uint8_t*>(data) + sizeof(h));
}

int SocketsProbe::Poll(int timeout_ms) {
  if (rings_.rings() == 0) return 0;
  // Events are written without waking us (see sockets.bpf.c) unless a ring fills, so the
  // timeout is the normal way out of the wait; whatever arrived is consumed either way.
  const int handed = rings_.Poll(timeout_ms, offsetof(sock_event_header, ts),
                                 [this](const void* data, size_t size) { OnEvent(data, size); });
  RunDueTlsScans();
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
