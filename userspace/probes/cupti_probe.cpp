#include "probes/cupti_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "cupti.skel.h"
#include "probes/bpf_load.h"
#include "probes/bpf_util.h"
#include "probes/library_scan.h"

namespace zerotrace::gpu {
namespace {

constexpr const char* kProbes[] = {"kernel", "memcpy", "memset", "memory",
                                   "sync",   "launch", "dropped"};

}  // namespace

CuptiProbe::CuptiProbe(Features& features, ProcessFilter& filter, CuptiProbeOptions options,
                       Handler handler)
    : features_(features),
      filter_(filter),
      options_(std::move(options)),
      handler_(std::move(handler)) {}

CuptiProbe::~CuptiProbe() {
  if (rb_) ring_buffer__free(rb_);
  libs_.reset();
  if (skel_) cupti_bpf__destroy(skel_);
}

Status CuptiProbe::Attach() {
  if (!features_.Has(Feature::kUprobe)) {
    return Error{"cupti: uprobes (USDT) are unavailable (" +
                 features_.Answer(Feature::kUprobe).detail + ")"};
  }
  if (!features_.Has(Feature::kRingBuffer)) {
    return Error{"cupti: BPF ring buffers are unavailable: " +
                 features_.Answer(Feature::kRingBuffer).detail};
  }
  skel_ = cupti_bpf__open();
  if (!skel_) return Error{std::string("cupti: cannot open BPF object: ") + std::strerror(errno)};
  if (auto s = filter_.ApplyTo(skel_); !s) return s;
  if (auto s = LoadBpfSkeleton(skel_->skeleton, "cupti"); !s) return s;
  rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.cupti_events), OnEvent, this, nullptr);
  if (!rb_) return Error{std::string("cupti: ring buffer setup failed: ") + std::strerror(errno)};
  libs_ = std::make_unique<LibraryAttachments>(
      LibraryAttachmentsOptions{"cupti", options_.proc_root, options_.binary_paths,
                                options_.scan_processes, IsCuptiInjectorPath,
                                !features_.Has(Feature::kBpfCookie)},
      filter_, [this](const std::string& path, int pid, std::vector<bpf_link*>* links) {
        return AttachBinary(path, pid, links);
      });
  return Rescan();
}

Status CuptiProbe::AttachBinary(const std::string& path, int pid, std::vector<bpf_link*>* links) {
  for (const char* probe : kProbes) {
    const std::string prog_name = std::string("cupti_") + probe;
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, prog_name.c_str());
    if (!prog) continue;
    bpf_link* link = bpf_program__attach_usdt(prog, pid, path.c_str(), "zerotrace", probe, nullptr);
    if (!link) {
      const int err = errno;
      return Error{"cupti: attaching zerotrace:" + std::string(probe) + " in " + path +
                   (pid >= 0 ? " (pid " + std::to_string(pid) + ")" : "") +
                   " failed: " + std::strerror(err)};
    }
    links->push_back(link);
  }
  return Status::Ok();
}

Status CuptiProbe::Rescan() {
  if (!libs_) return Error{"cupti: not attached"};
  return libs_->Rescan();
}

int CuptiProbe::OnEvent(void* ctx, void* data, size_t size) {
  auto* self = static_cast<CuptiProbe*>(ctx);
  if (size < sizeof(cupti_event_header)) return 0;
  ++self->events_seen_;
  cupti_event_header h;
  std::memcpy(&h, data, sizeof(h));
  if (h.type == CUPTI_EV_DROPPED && size >= sizeof(cupti_dropped_event)) {
    cupti_dropped_event d;
    std::memcpy(&d, data, sizeof(d));
    if (self->dropped_totals_.size() >= 65536) self->dropped_totals_.clear();
    auto& last = self->dropped_totals_[h.tgid];
    if (d.cupti_dropped_total >= last.first)
      self->injector_dropped_ += d.cupti_dropped_total - last.first;
    if (d.rate_skipped_total >= last.second)
      self->injector_dropped_ += d.rate_skipped_total - last.second;
    last = {d.cupti_dropped_total, d.rate_skipped_total};
  }
  self->handler_(data, size);
  return 0;
}

int CuptiProbe::Poll(int timeout_ms) { return rb_ ? ring_buffer__poll(rb_, timeout_ms) : 0; }

int CuptiProbe::epoll_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }

std::optional<cupti_launch_info> CuptiProbe::TakeLaunch(uint32_t tgid, uint32_t correlation_id) {
  if (!skel_) return std::nullopt;
  const int fd = bpf_map__fd(skel_->maps.launch_stacks);
  cupti_launch_key key = {tgid, correlation_id};
  cupti_launch_info info{};
  if (bpf_map_lookup_elem(fd, &key, &info) != 0) return std::nullopt;
  bpf_map_delete_elem(fd, &key);
  return info;
}

std::vector<uint64_t> CuptiProbe::ReadStack(int32_t stack_id) const {
  std::vector<uint64_t> ips;
  if (skel_) {
    ReadStackTrace(bpf_map__fd(skel_->maps.cupti_stacks), stack_id, ZT_CUPTI_STACK_DEPTH, &ips);
  }
  return ips;
}

bool CuptiProbe::ClearStacksIfFull(double fraction) {
  if (!skel_ || !ClearStackTraceMapIfFull(bpf_map__fd(skel_->maps.cupti_stacks),
                                          ZT_CUPTI_STACK_ENTRIES, fraction)) {
    return false;
  }
  // The launches' stack ids are void now.
  const int fd = bpf_map__fd(skel_->maps.launch_stacks);
  for (const auto& k : ListMapKeys<cupti_launch_key>(fd)) bpf_map_delete_elem(fd, &k);
  return true;
}

std::vector<std::string> CuptiProbe::libraries() const {
  return libs_ ? libs_->paths() : std::vector<std::string>{};
}

std::set<uint32_t> CuptiProbe::injected_pids() const {
  return libs_ ? libs_->mapping_pids() : std::set<uint32_t>{};
}

bpf_object* CuptiProbe::object() const { return skel_ ? skel_->obj : nullptr; }

uint64_t CuptiProbe::events_lost() const {
  return injector_dropped_ +
         (skel_ ? SumPerCpuCounters(bpf_map__fd(skel_->maps.cupti_drops), CUPTI_DROP_MAX) : 0);
}

}  // namespace zerotrace::gpu
