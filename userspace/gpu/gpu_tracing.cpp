#include "gpu/gpu_tracing.h"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <thread>

#include "chrome/trace.h"
#include "flamegraph/folded.h"
#include "flamegraph/pprof.h"
#include "flamegraph/svg.h"
#include "probes/library_scan.h"

namespace zerotrace::gpu {

Result<std::unique_ptr<GpuTracing>> GpuTracing::Create(Features& features, ProcessFilter& filter,
                                                       ProcessCatalog& catalog,
                                                       prometheus::Registry& registry,
                                                       GpuOptions options) {
  if (!options.cuda && !options.cupti) return Error{"gpu: neither cuda nor cupti is enabled"};
  std::unique_ptr<GpuTracing> t(new GpuTracing());
  t->options_ = std::move(options);
  GpuTracing* self = t.get();
  GpuSources sources;
  sources.cuda_stack = [self](int32_t id) {
    return self->cuda_attached_ ? self->cuda_->ReadStack(id) : std::vector<uint64_t>{};
  };
  sources.cupti_stack = [self](int32_t id) {
    return self->cupti_attached_ ? self->cupti_->ReadStack(id) : std::vector<uint64_t>{};
  };
  sources.take_launch = [self](uint32_t tgid, uint32_t corr) -> std::optional<cupti_launch_info> {
    if (!self->cupti_attached_) return std::nullopt;
    return self->cupti_->TakeLaunch(tgid, corr);
  };
  sources.has_injector = [self](uint32_t tgid) {
    if (!self->cupti_attached_) return false;
    const auto now = std::chrono::steady_clock::now();
    auto it = self->injector_cache_.find(tgid);
    if (it != self->injector_cache_.end() &&
        (it->second.first || now - it->second.second < std::chrono::seconds(1))) {
      return it->second.first;
    }
    const bool yes =
        self->cupti_->injected_pids().count(tgid) > 0 ||
        ProcessMaps(self->options_.proc_root, tgid, IsCuptiInjectorPath) ||
        std::any_of(self->options_.cupti_paths.begin(), self->options_.cupti_paths.end(),
                    [&](const std::string& path) {
                      return ProcessMaps(self->options_.proc_root, tgid,
                                         [&](const std::string& p) { return p == path; });
                    });
    if (self->injector_cache_.size() >= 65536) self->injector_cache_.clear();
    self->injector_cache_[tgid] = {yes, now};
    return yes;
  };
  t->aggregator_ = std::make_unique<GpuAggregator>(registry, catalog, std::move(sources),
                                                   t->options_.aggregator);
  GpuAggregator* agg = t->aggregator_.get();
  if (t->options_.cuda) {
    CudaProbeOptions o;
    o.proc_root = t->options_.proc_root;
    o.library_paths = t->options_.libcuda_paths;
    o.scan_processes = t->options_.scan_processes;
    o.cfi_unwind = t->options_.cfi_unwind;
    o.unwind_rows = t->options_.unwind_rows;
    t->cuda_ = std::make_unique<CudaProbe>(
        features, filter, std::move(o),
        [agg](const void* data, size_t size) { agg->OnCudaEvent(data, size); });
  }
  if (t->options_.cupti) {
    CuptiProbeOptions o;
    o.proc_root = t->options_.proc_root;
    o.binary_paths = t->options_.cupti_paths;
    o.scan_processes = t->options_.scan_processes;
    t->cupti_ = std::make_unique<CuptiProbe>(
        features, filter, std::move(o),
        [agg](const void* data, size_t size) { agg->OnCuptiEvent(data, size); });
  }
  return t;
}

GpuTracing::~GpuTracing() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
  // Probes go before the aggregator their handlers point at.
  cuda_.reset();
  cupti_.reset();
}

Status GpuTracing::Attach() {
  std::string errors;
  if (cuda_) {
    Status s = cuda_->Attach();
    // A library that failed to attach is reported, the probe itself still works.
    cuda_attached_ = cuda_->attach_mode() != "unavailable";
    if (!s) errors += s.message();
  }
  if (cupti_) {
    Status s = cupti_->Attach();
    cupti_attached_ = cupti_->attach_mode() != "unavailable";
    if (!s) errors += (errors.empty() ? "" : "; ") + s.message();
  }
  if (!cuda_attached_ && !cupti_attached_) return Error{errors};
  if (!errors.empty()) warnings_.push_back(errors);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  for (int fd :
       {cuda_attached_ ? cuda_->epoll_fd() : -1, cupti_attached_ ? cupti_->epoll_fd() : -1}) {
    if (fd < 0 || epoll_fd_ < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  return Status::Ok();
}

std::vector<Probe*> GpuTracing::probes() {
  std::vector<Probe*> out;
  if (cuda_attached_) out.push_back(cuda_.get());
  if (cupti_attached_) out.push_back(cupti_.get());
  return out;
}

int GpuTracing::Poll(int timeout_ms) {
  // Waited for without the lock: a poller looping on Poll() held it almost all the time, and
  // std::mutex is not fair, so Rescan() (new libraries to attach) could starve for many seconds.
  if (timeout_ms > 0 && epoll_fd_ >= 0) {
    epoll_event events[2];
    epoll_wait(epoll_fd_, events, 2, timeout_ms);
  }
  std::lock_guard<std::mutex> lock(poll_mu_);
  int n = 0;
  if (cuda_attached_) n += std::max(0, cuda_->Poll(0));
  if (cupti_attached_) n += std::max(0, cupti_->Poll(0));
  return n;
}

Status GpuTracing::Rescan() {
  std::lock_guard<std::mutex> lock(poll_mu_);
  // Stack maps: drain what references the current ids first, then empty a map that is filling.
  if (cuda_attached_) cuda_->Poll(0);
  if (cupti_attached_) cupti_->Poll(0);
  const bool cuda_cleared = cuda_attached_ && cuda_->ClearStacksIfFull();
  const bool cupti_cleared = cupti_attached_ && cupti_->ClearStacksIfFull();
  if (cuda_cleared || cupti_cleared) aggregator_->ForgetStacks(cuda_cleared, cupti_cleared);
  std::string errors;
  if (cuda_attached_) {
    if (auto s = cuda_->Rescan(); !s) errors += s.message();
  }
  if (cupti_attached_) {
    if (auto s = cupti_->Rescan(); !s) errors += (errors.empty() ? "" : "; ") + s.message();
  }
  if (!errors.empty()) return Error{errors};
  return Status::Ok();
}

profile::Profile GpuTracing::GpuProfile(uint32_t pid) const {
  return aggregator_->Profile(pid ? std::set<uint32_t>{pid} : std::set<uint32_t>{});
}

profile::Profile GpuTracing::Record(std::chrono::milliseconds duration, std::set<uint32_t> pids,
                                    std::chrono::milliseconds poll_interval,
                                    const std::function<bool()>& stop,
                                    const std::function<void()>& started) {
  Poll(0);
  const auto id = aggregator_->StartRecording(std::move(pids));
  if (started) started();
  const auto start = std::chrono::steady_clock::now();
  const int64_t start_unix = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  while (std::chrono::steady_clock::now() - start < duration && !(stop && stop())) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        duration - (std::chrono::steady_clock::now() - start));
    Poll(static_cast<int>(std::max<int64_t>(0, std::min(left, poll_interval).count())));
  }
  Poll(0);
  profile::Profile p = aggregator_->StopRecording(id);
  p.start_unix_ns = start_unix;
  p.duration_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  return p;
}

std::string GpuTracing::ChromeTraceJson(uint32_t pid, int64_t since_ns) const {
  return chrome::TraceWriter::ToJson(
      aggregator_->ChromeTrace(pid ? std::set<uint32_t>{pid} : std::set<uint32_t>{}, since_ns));
}

Status GpuTracing::WriteChromeTrace(const std::string& path, uint32_t pid, int64_t since_ns) const {
  std::string error;
  if (!chrome::TraceWriter::WriteFile(
          aggregator_->ChromeTrace(pid ? std::set<uint32_t>{pid} : std::set<uint32_t>{}, since_ns),
          path, &error)) {
    return Error{"gpu trace: " + error};
  }
  return Status::Ok();
}

Result<std::vector<std::string>> GpuTracing::WriteFiles(const std::string& dir,
                                                        const profile::Profile& profile,
                                                        uint32_t pid, int64_t since_ns) const {
  std::vector<std::string> written;
  const std::string folded = dir + "/gpu.folded";
  if (auto s = flamegraph::FoldedWriter::WriteFile(profile, folded); !s) return Error{s.message()};
  written.push_back(folded);
  const std::string svg = dir + "/gpu.svg";
  if (auto s = flamegraph::SvgFlamegraphWriter().WriteFile(profile, svg); !s) {
    return Error{s.message()};
  }
  written.push_back(svg);
  const std::string pprof = dir + "/gpu.pb.gz";
  if (auto s = flamegraph::PprofWriter().WriteFile(profile, pprof); !s) return Error{s.message()};
  written.push_back(pprof);
  const std::string trace = dir + "/gpu_trace.json";
  if (auto s = WriteChromeTrace(trace, pid, since_ns); !s) return Error{s.message()};
  written.push_back(trace);
  return written;
}

std::string GpuTracing::Summary(const profile::Profile& profile, size_t top_n) const {
  std::ostringstream out;
  const uint64_t total = profile::TotalValue(profile);
  out << "GPU kernels by GPU time (" << total / 1000 << " us in all)\n";
  const auto top = profile::TopFunctions(profile, top_n, profile::TopOrder::kBySelf);
  size_t rows = 0;
  for (const auto& f : top) {
    if (f.kind != profile::FrameKind::kGpu || f.self == 0) continue;
    char line[64];
    std::snprintf(line, sizeof(line), "  %12.3f ms %6.1f%%  ", static_cast<double>(f.self) / 1e6,
                  total ? 100.0 * static_cast<double>(f.self) / static_cast<double>(total) : 0.0);
    out << line << f.name << "\n";
    ++rows;
  }
  if (rows == 0)
    out << "  (no kernel records: is the application started with CUDA_INJECTION64_PATH?)\n";
  out << "GPU memory outstanding\n" << aggregator_->LeakReport(5);
  return out.str();
}

uint64_t GpuTracing::events_lost() const {
  uint64_t n = 0;  // the cupti probe's count includes what injectors reported dropped
  if (cuda_attached_) n += cuda_->events_lost();
  if (cupti_attached_) n += cupti_->events_lost();
  return n;
}

}  // namespace zerotrace::gpu
