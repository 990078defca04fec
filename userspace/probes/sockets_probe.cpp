#include "probes/sockets_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <sys/syscall.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "probes/bpf_program_stats.h"
#include "sockets.skel.h"

namespace zerotrace {

SocketsProbe::SocketsProbe(Features& features, ProcessFilter& filter, SocketsProbeOptions options,
                           Handler handler)
    : features_(features),
      filter_(filter),
      options_(options),
      handler_(std::move(handler)) {}

SocketsProbe::~SocketsProbe() {
  if (rb_) ring_buffer__free(rb_);
  if (!skel_) return;
  // Each tracepoint link waits for an RCU grace period on release; ~30 of them one after another
  // took ~2 s. Releasing them concurrently lets the grace periods overlap, keeping shutdown fast.
  std::vector<std::thread> detachers;
  const bpf_object_skeleton* s = skel_->skeleton;
  for (int i = 0; i < s->prog_cnt; ++i) {
    bpf_link** link = s->progs[i].link;
    if (link && *link) {
      detachers.emplace_back([link] {
        bpf_link__destroy(*link);
        *link = nullptr;
      });
    }
  }
  for (auto& t : detachers) t.join();
  sockets_bpf__destroy(skel_);
}

Status SocketsProbe::Attach() {
  const bool raw = features_.Has(Feature::kRawTracepoint);
  if (!raw && !features_.Has(Feature::kTracepoint)) {
    return Error{"sockets: neither raw tracepoints nor syscall tracepoints are available (" +
                 features_.Answer(Feature::kTracepoint).detail + ")"};
  }
  if (!features_.Has(Feature::kRingBuffer)) {
    return Error{"sockets: BPF ring buffers are unavailable (kernel older than 5.8)"};
  }
  skel_ = sockets_bpf__open();
  if (!skel_) return Error{std::string("sockets: cannot open BPF object: ") + std::strerror(errno)};
  skel_->rodata->capture_bytes =
      options_.capture_bytes > ZT_SOCK_MAX_CAPTURE ? ZT_SOCK_MAX_CAPTURE : options_.capture_bytes;
  skel_->rodata->self_tgid = options_.self_tgid;
  bpf_program* p;
  bpf_object__for_each_program(p, skel_->obj) {
    const bool is_raw = std::strncmp(bpf_program__name(p), "raw_", 4) == 0;
    bpf_program__set_autoload(p, is_raw == raw);
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
  mode_ = raw ? "raw_tracepoint" : "tracepoint";
  bpf_map__set_max_entries(skel_->maps.events, options_.ring_buffer_bytes);
  const int ncpu = libbpf_num_possible_cpus();
  bpf_map__set_max_entries(skel_->maps.scratch, ncpu > 0 ? static_cast<__u32>(ncpu) : 1);
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  if (int err = sockets_bpf__load(skel_); err) {
    return Error{std::string("sockets: loading BPF programs failed: ") + std::strerror(-err)};
  }
  if (int err = sockets_bpf__attach(skel_); err) {
    return Error{std::string("sockets: attaching syscall tracepoints failed: ") +
                 std::strerror(-err)};
  }
  rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), OnEvent, this, nullptr);
  if (!rb_) return Error{std::string("sockets: ring buffer setup failed: ") + std::strerror(errno)};
  attached_ = true;
  return Status::Ok();
}

int SocketsProbe::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<SocketsProbe*>(ctx);
  if (size < sizeof(sock_event_header)) {
    ++self->malformed_;
    return 0;
  }
  sock_event_header h;
  std::memcpy(&h, data, sizeof(h));
  if (h.captured > size - sizeof(h)) {
    ++self->malformed_;
    return 0;
  }
  ++self->events_seen_;
  self->handler_(h, static_cast<const uint8_t*>(data) + sizeof(h));
  return 0;
}

int SocketsProbe::Poll(int timeout_ms) { return rb_ ? ring_buffer__poll(rb_, timeout_ms) : 0; }

bpf_object* SocketsProbe::object() const { return skel_ ? skel_->obj : nullptr; }

uint64_t SocketsProbe::events_lost() const {
  return skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.drops), SOCK_DROP_MAX) : 0;
}

}  // namespace zerotrace
