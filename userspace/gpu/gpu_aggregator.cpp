#include "gpu/gpu_aggregator.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "bpf/cuda.h"
#include "core/metric_family.h"

namespace zerotrace::gpu {
namespace {

constexpr size_t kMaxStackCache = 16384;
constexpr size_t kMaxNamesPerProcess = 65536;
constexpr const char* kUnknown = "unknown";

const std::vector<double>& KernelBuckets() {
  return metrics::BucketBoundaries(metrics::Buckets::kGpuSeconds);
}

template <typename T>
bool Read(const void* data, size_t size, T* out) {
  if (size < sizeof(T)) return false;
  std::memcpy(out, data, sizeof(T));
  return true;
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

std::string CString(const char* s, size_t max) { return std::string(s, strnlen(s, max)); }

const char* LaunchCallName(uint32_t cbid, uint32_t domain) {
  // The callback ids of the common launch entry points (CUPTI's cupti_driver_cbid.h /
  // cupti_runtime_cbid.h); others are named by domain.
  if (domain == 1) {
    switch (cbid) {
      case 307:
        return "cuLaunchKernel";
      case 442:
        return "cuLaunchKernel_ptsz";
      case 652:
        return "cuLaunchKernelEx";
      case 653:
        return "cuLaunchKernelEx_ptsz";
      default:
        return "cuLaunch";
    }
  }
  switch (cbid) {
    case 211:
      return "cudaLaunchKernel";
    case 214:
      return "cudaLaunchKernel_ptsz";
    case 430:
      return "cudaLaunchKernelExC";
    default:
      return "cudaLaunch";
  }
}

}  // namespace

static const char* DriverCallName(uint32_t call) {
  switch (call) {
    case CUDA_CALL_LAUNCH_KERNEL:
      return "cuLaunchKernel";
    case CUDA_CALL_LAUNCH_KERNEL_EX:
      return "cuLaunchKernelEx";
    case CUDA_CALL_MEM_ALLOC:
      return "cuMemAlloc_v2";
    case CUDA_CALL_MEM_ALLOC_ASYNC:
      return "cuMemAllocAsync";
    case CUDA_CALL_MEM_FREE:
      return "cuMemFree_v2";
    case CUDA_CALL_MEM_FREE_ASYNC:
      return "cuMemFreeAsync";
    case CUDA_CALL_MEMCPY_HTOD:
      return "cuMemcpyHtoD_v2";
    case CUDA_CALL_MEMCPY_DTOH:
      return "cuMemcpyDtoH_v2";
    case CUDA_CALL_MEMCPY_DTOD:
      return "cuMemcpyDtoD_v2";
    case CUDA_CALL_MEMCPY_ASYNC:
      return "cuMemcpyAsync";
    case CUDA_CALL_MEMCPY_HTOD_ASYNC:
      return "cuMemcpyHtoDAsync_v2";
    case CUDA_CALL_MEMCPY_DTOH_ASYNC:
      return "cuMemcpyDtoHAsync_v2";
    case CUDA_CALL_CTX_SYNCHRONIZE:
      return "cuCtxSynchronize";
    case CUDA_CALL_STREAM_SYNCHRONIZE:
      return "cuStreamSynchronize";
    case CUDA_CALL_EVENT_SYNCHRONIZE:
      return "cuEventSynchronize";
    default:
      return "unknown";
  }
}

GpuAggregator::GpuAggregator(prometheus::Registry& registry, ProcessCatalog& catalog,
                             GpuSources sources, GpuAggregatorOptions options)
    : registry_(registry),
      catalog_(catalog),
      sources_(std::move(sources)),
      options_(std::move(options)),
      launches_(CounterFamily(registry, "zerotrace_gpu_kernel_launches_total")),
      kernel_duration_(HistogramFamily(registry, "zerotrace_gpu_kernel_duration_seconds")),
      memcpy_bytes_(CounterFamily(registry, "zerotrace_gpu_memcpy_bytes_total")),
      memcpy_duration_(HistogramFamily(registry, "zerotrace_gpu_memcpy_duration_seconds")),
      memory_allocated_(GaugeFamily(registry, "zerotrace_gpu_memory_allocated_bytes")),
      busy_(CounterFamily(registry, "zerotrace_gpu_busy_seconds_total")),
      sync_wait_(CounterFamily(registry, "zerotrace_cuda_sync_wait_seconds_total")),
      kernel_names_(4096, options_.max_kernel_name_len),
      kernel_labels_(options_.max_kernels_per_service),
      launch_series_(launches_, options_.series_ttl),
      kernel_duration_series_(kernel_duration_, options_.series_ttl),
      memcpy_bytes_series_(memcpy_bytes_, options_.series_ttl),
      memcpy_duration_series_(memcpy_duration_, options_.series_ttl),
      sync_wait_series_(sync_wait_, options_.series_ttl),
      leaks_(options_.max_allocations_per_process),
      profile_(options_.max_profile_stacks),
      timeline_(options_.max_trace_slices) {}

GpuAggregator::~GpuAggregator() {
  for (auto& [tgid, p] : procs_) {
    if (p.memory_gauge) memory_allocated_.Remove(p.memory_gauge);
  }
}

GpuAggregator::ProcessState& GpuAggregator::State(uint32_t tgid) {
  auto [it, inserted] = procs_.try_emplace(tgid);
  ProcessState& p = it->second;
  if (inserted) {
    auto info = catalog_.Lookup(tgid);
    if (info && !info->service_name.empty()) {
      p.service = info->service_name;
    } else if (info && !info->comm.empty()) {
      p.service = info->comm;
    } else {
      p.service = kUnknown;
    }
    // The labels of every GPU series of this process: service_name and, on Kubernetes, the
    // k8s_* labels the RED and syscall series carry (dashboards filter on them).
    p.identity = {{"service_name", p.service}};
    p.identity_key = p.service;
    if (info) {
      for (const auto& [k, v] : K8sLabels(info->k8s)) {
        p.identity[k] = v;
        p.identity_key.append("\x1f").append(k).append("=").append(v);
      }
    }
  }
  if (!p.prepared && options_.symbolizer) {
    options_.symbolizer->Prepare(tgid);
    p.prepared = true;
  }
  return p;
}

bool GpuAggregator::HasInjector(uint32_t tgid, const ProcessState& p) const {
  return p.cupti_seen || (sources_.has_injector && sources_.has_injector(tgid));
}

FramesPtr GpuAggregator::ResolveStack(StackSource source, uint32_t tgid, ProcessState& p,
                                      int32_t stack_id, uint64_t caller) {
  (void)p;
  if (stack_id < 0) return nullptr;
  // One stack id can stand for several callers on kernels that drop the caller: the caller is
  // part of the key.
  const StackKey key{(static_cast<uint64_t>(source) << 63) | (static_cast<uint64_t>(tgid) << 32) |
                         static_cast<uint32_t>(stack_id),
                     caller};
  if (auto it = stack_cache_.find(key); it != stack_cache_.end()) return it->second;
  const auto& reader = source == StackSource::kCuda ? sources_.cuda_stack : sources_.cupti_stack;
  if (!reader) return nullptr;
  std::vector<uint64_t> ips = reader(stack_id);
  if (ips.empty()) return nullptr;
  if (caller != 0 && (ips.size() < 2 || ips[1] != caller)) ips.insert(ips.begin() + 1, caller);
  auto frames = std::make_shared<Frames>();
  frames->reserve(ips.size());
  for (auto it = ips.rbegin(); it != ips.rend(); ++it) {  // leaf first -> root first
    if (options_.symbolizer) {
      profile::Frame f = options_.symbolizer->Symbolize(tgid, *it);
      if (f.kind == profile::FrameKind::kUnknown) f.kind = profile::FrameKind::kUser;
      frames->push_back(std::move(f));
    } else {
      profile::Frame f;
      f.address = *it;
      f.kind = profile::FrameKind::kUser;
      frames->push_back(std::move(f));
    }
  }
  if (source == StackSource::kCupti) {
    // The injector's callback and CUPTI itself sit on top of every launch stack: drop them, the
    // launch site (the runtime/driver call and its caller) is what the flamegraph should show.
    while (frames->size() > 1) {
      const std::string& m = frames->back().module;
      if (m.find("libzerotrace_cupti") == std::string::npos &&
          m.find("libcupti") == std::string::npos) {
        break;
      }
      frames->pop_back();
    }
  }
  if (stack_cache_.size() >= kMaxStackCache) stack_cache_.clear();
  FramesPtr out = std::move(frames);
  stack_cache_.emplace(key, out);
  return out;
}

void GpuAggregator::UpdateMemoryGauge(ProcessState& p) {
  if (!p.memory_gauge) p.memory_gauge = &memory_allocated_.Add(p.identity);
  // Several processes of one service (in one pod) share the series: it holds their sum.
  double total = 0;
  for (const auto& [tgid, q] : procs_) {
    if (q.identity_key != p.identity_key) continue;
    total += static_cast<double>(leaks_.Outstanding(tgid));
  }
  p.memory_gauge->Set(total);
}

void GpuAggregator::OnCudaEvent(const void* data, size_t size) {
  cuda_event_header h;
  if (!Read(data, size, &h)) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.cuda_events;
  ProcessState& p = State(h.tgid);
  p.driver_seen = true;
  switch (h.type) {
    case CUDA_EV_LAUNCH: {
      if (size < sizeof(cuda_launch_event)) return;
      HandleLaunch(data);
      break;
    }
    case CUDA_EV_FUNC_NAME: {
      cuda_func_name_event e;
      if (!Read(data, size, &e)) return;
      if (p.names.size() >= kMaxNamesPerProcess) p.names.clear();
      p.names[e.function] = CString(e.name, sizeof(e.name));
      break;
    }
    case CUDA_EV_FUNC_ALIAS: {
      cuda_func_alias_event e;
      if (!Read(data, size, &e)) return;
      if (p.aliases.size() >= kMaxNamesPerProcess) p.aliases.clear();
      p.aliases[e.function] = e.kernel;
      break;
    }
    case CUDA_EV_ALLOC: {
      cuda_alloc_event e;
      if (!Read(data, size, &e)) return;
      leaks_.OnDriverAlloc(h.tgid, e.dptr, e.bytes, [&] {
        return GpuLeaks::Site{e.ustack_id,
                              ResolveStack(StackSource::kCuda, h.tgid, p, e.ustack_id, e.caller),
                              e.caller};
      });
      UpdateMemoryGauge(p);
      {
        TraceRecord r;
        r.pid = h.tgid;
        r.tid = h.tid;
        r.start_ns = static_cast<int64_t>(h.ts);
        r.name = DriverCallName(h.call);
        r.bytes = e.bytes;
        timeline_.Add(std::move(r));
      }
      break;
    }
    case CUDA_EV_FREE: {
      cuda_free_event e;
      if (!Read(data, size, &e)) return;
      if (!leaks_.OnDriverFree(h.tgid, e.dptr)) {
        ++stats_.unknown_frees;
        break;
      }
      UpdateMemoryGauge(p);
      break;
    }
    case CUDA_EV_MEMCPY: {
      cuda_memcpy_event e;
      if (!Read(data, size, &e)) return;
      const char* kind = DriverMemcpyKindName(e.direction);
      if (!HasInjector(h.tgid, p)) {
        CounterFor(memcpy_bytes_series_, p, "kind", kind).Increment(static_cast<double>(e.bytes));
        HistogramFor(memcpy_duration_series_, p, "kind", kind).Observe(Seconds(e.duration_ns));
      }
      {
        TraceRecord r;
        r.pid = h.tgid;
        r.tid = h.tid;
        r.start_ns = static_cast<int64_t>(h.ts);
        r.duration_ns = static_cast<int64_t>(e.duration_ns);
        r.name = DriverCallName(h.call);
        r.detail = kind;
        r.bytes = e.bytes;
        timeline_.Add(std::move(r));
      }
      break;
    }
    case CUDA_EV_SYNC: {
      cuda_sync_event e;
      if (!Read(data, size, &e)) return;
      // With the injector, CUPTI's synchronization records cover every sync (the runtime does
      // not always go through the exported driver symbols); counting both would double.
      if (!HasInjector(h.tgid, p)) {
        CounterFor(sync_wait_series_, p, "call", SyncCallName(h.call))
            .Increment(Seconds(e.duration_ns));
      }
      {
        TraceRecord r;
        r.pid = h.tgid;
        r.tid = h.tid;
        r.start_ns = static_cast<int64_t>(h.ts);
        r.duration_ns = static_cast<int64_t>(e.duration_ns);
        r.name = DriverCallName(h.call);
        timeline_.Add(std::move(r));
      }
      break;
    }
    default:
      break;
  }
}

template <typename Metric, typename... Args>
Metric& GpuAggregator::SeriesFor(ExpiringSeries<Metric>& series, const ProcessState& p,
                                 const char* label_name, const std::string& label_value,
                                 Args&&... args) {
  const uint64_t now = SteadyNs();
  service_last_ns_[p.service] = now;
  std::string key = p.identity_key;
  key.push_back('\x1f');
  key += label_value;
  return series.Get(
      key, now,
      [&] {
        prometheus::Labels labels = p.identity;
        labels[label_name] = label_value;
        return labels;
      },
      std::forward<Args>(args)...);
}

prometheus::Counter& GpuAggregator::CounterFor(ExpiringSeries<prometheus::Counter>& series,
                                               const ProcessState& p, const char* label_name,
                                               const std::string& label_value) {
  return SeriesFor(series, p, label_name, label_value);
}

prometheus::Histogram& GpuAggregator::HistogramFor(ExpiringSeries<prometheus::Histogram>& series,
                                                   const ProcessState& p, const char* label_name,
                                                   const std::string& label_value) {
  return SeriesFor(series, p, label_name, label_value, KernelBuckets());
}

void GpuAggregator::RemoveIdleSeries(uint64_t now_ns) {
  std::lock_guard lock(mu_);
  launch_series_.RemoveIdle(now_ns);
  kernel_duration_series_.RemoveIdle(now_ns);
  memcpy_bytes_series_.RemoveIdle(now_ns);
  memcpy_duration_series_.RemoveIdle(now_ns);
  sync_wait_series_.RemoveIdle(now_ns);
  const auto ttl = static_cast<uint64_t>(options_.series_ttl.count());
  if (ttl == 0) return;
  // A service with no series left may come back with other kernels: it gets a fresh bound.
  for (auto it = service_last_ns_.begin(); it != service_last_ns_.end();) {
    if (now_ns < it->second + ttl) {
      ++it;
      continue;
    }
    kernel_labels_.ForgetService(it->first);
    it = service_last_ns_.erase(it);
  }
}

size_t GpuAggregator::series_count() const {
  std::lock_guard lock(mu_);
  return launch_series_.size() + kernel_duration_series_.size() + memcpy_bytes_series_.size() +
         memcpy_duration_series_.size() + sync_wait_series_.size();
}

void GpuAggregator::HandleLaunch(const void* data) {
  cuda_launch_event e;
  std::memcpy(&e, data, sizeof(e));
  ProcessState& p = procs_[e.hdr.tgid];
  auto name_id = p.names.find(e.function);
  if (name_id == p.names.end()) {
    if (auto a = p.aliases.find(e.function); a != p.aliases.end())
      name_id = p.names.find(a->second);
  }
  static const std::string kNoName;
  const std::string& mangled = name_id == p.names.end() ? kNoName : name_id->second;
  const auto names = kernel_names_.Get(mangled);
  CounterFor(launch_series_, p, "kernel", kernel_labels_.Bound(p.service, names->short_))
      .Increment();
  if (!HasInjector(e.hdr.tgid, p)) {
    TraceRecord r;
    r.pid = e.hdr.tgid;
    r.tid = e.hdr.tid;
    r.start_ns = static_cast<int64_t>(e.hdr.ts);
    r.name = DriverCallName(e.hdr.call);
    r.kernel = names;
    r.grid[0] = e.grid_x;
    r.grid[1] = e.grid_y;
    r.grid[2] = e.grid_z;
    r.block[0] = e.block_x;
    r.block[1] = e.block_y;
    r.block[2] = e.block_z;
    timeline_.Add(std::move(r));
  }
}

void GpuAggregator::OnCuptiEvent(const void* data, size_t size) {
  cupti_event_header h;
  if (!Read(data, size, &h)) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.cupti_events;
  ProcessState& p = State(h.tgid);
  p.cupti_seen = true;
  switch (h.type) {
    case CUPTI_EV_KERNEL: {
      cupti_kernel_event e;
      if (!Read(data, size, &e)) return;
      HandleCuptiKernel(e);
      break;
    }
    case CUPTI_EV_MEMCPY: {
      cupti_memcpy_event e;
      if (!Read(data, size, &e)) return;
      HandleCuptiMemcpy(e);
      break;
    }
    case CUPTI_EV_MEMSET: {
      cupti_memset_event e;
      if (!Read(data, size, &e)) return;
      const auto& r = e.rec;
      TraceRecord t;
      t.kind = TraceRecord::Kind::kMemset;
      t.pid = h.tgid;
      t.tid = timeline_.GpuTrack(h.tgid, r.device_id, r.stream_id);
      t.start_ns = static_cast<int64_t>(r.start);
      t.duration_ns = static_cast<int64_t>(r.end > r.start ? r.end - r.start : 0);
      t.bytes = r.bytes;
      t.correlation_id = r.correlation_id;
      t.device = r.device_id;
      t.stream = r.stream_id;
      timeline_.Add(std::move(t));
      break;
    }
    case CUPTI_EV_MEMORY: {
      cupti_memory_event e;
      if (!Read(data, size, &e)) return;
      const auto& r = e.rec;
      if (r.op == CUPTI_ZT_MEMORY_OP_ALLOC) {
        leaks_.OnCuptiAlloc(h.tgid, r.address, r.bytes);
      } else if (r.op == CUPTI_ZT_MEMORY_OP_RELEASE) {
        leaks_.OnCuptiRelease(h.tgid, r.address);
      }
      if (!leaks_.DriverCounts(h.tgid)) UpdateMemoryGauge(p);
      break;
    }
    case CUPTI_EV_SYNC: {
      cupti_sync_event e;
      if (!Read(data, size, &e)) return;
      if (e.rec.end > e.rec.start) {
        CounterFor(sync_wait_series_, p, "call", CuptiSyncName(e.rec.type))
            .Increment(Seconds(e.rec.end - e.rec.start));
      }
      break;
    }
    case CUPTI_EV_DROPPED: {
      cupti_dropped_event e;
      if (!Read(data, size, &e)) return;
      // Cumulative per process: count the increase.
      if (e.cupti_dropped_total >= p.dropped_cupti) {
        stats_.injector_dropped += e.cupti_dropped_total - p.dropped_cupti;
      }
      if (e.rate_skipped_total >= p.dropped_rate) {
        stats_.injector_dropped += e.rate_skipped_total - p.dropped_rate;
      }
      p.dropped_cupti = e.cupti_dropped_total;
      p.dropped_rate = e.rate_skipped_total;
      break;
    }
    default:
      break;
  }
}

void GpuAggregator::HandleCuptiKernel(const cupti_kernel_event& e) {
  const uint32_t tgid = e.hdr.tgid;
  ProcessState& p = procs_[tgid];
  const auto& r = e.rec;
  ++stats_.kernels;
  const auto names = kernel_names_.Get(CString(e.name, sizeof(e.name)));
  const uint64_t ns = r.end > r.start ? r.end - r.start : 0;
  const std::string& label = kernel_labels_.Bound(p.service, names->short_);
  HistogramFor(kernel_duration_series_, p, "kernel", label).Observe(Seconds(ns));
  // Busy time: the union of kernel intervals per device (records arrive roughly in order).
  uint64_t& until = busy_until_[r.device_id];
  uint64_t busy = 0;
  if (r.start >= until) {
    busy = ns;
  } else if (r.end > until) {
    busy = r.end - until;
  }
  until = std::max<uint64_t>(until, r.end);
  if (busy) {
    prometheus::Counter*& c = busy_counters_[r.device_id];
    if (!c) c = &busy_.Add({{"device", std::to_string(r.device_id)}});
    c->Increment(Seconds(busy));
  }

  FramesPtr stack;
  std::optional<cupti_launch_info> launch;
  if (sources_.take_launch) launch = sources_.take_launch(tgid, r.correlation_id);
  if (launch) {
    stack = ResolveStack(StackSource::kCupti, tgid, p, launch->ustack_id);
    if (stack) ++stats_.kernels_with_launch_stack;
  }
  profile_.Add(tgid, stack, names->full, ns);

  const uint64_t track = timeline_.GpuTrack(tgid, r.device_id, r.stream_id);
  TraceRecord k;
  k.kind = TraceRecord::Kind::kKernel;
  k.pid = tgid;
  k.tid = track;
  k.start_ns = static_cast<int64_t>(r.start);
  k.duration_ns = static_cast<int64_t>(ns);
  k.kernel = names;
  k.correlation_id = r.correlation_id;
  k.device = r.device_id;
  k.stream = r.stream_id;
  k.registers = r.registers_per_thread;
  k.shared_memory = static_cast<int64_t>(r.static_shared_mem) + r.dynamic_shared_mem;
  k.grid[0] = r.grid_x;
  k.grid[1] = r.grid_y;
  k.grid[2] = r.grid_z;
  k.block[0] = r.block_x;
  k.block[1] = r.block_y;
  k.block[2] = r.block_z;
  timeline_.Add(std::move(k));
  if (launch && options_.on_kernel) {
    GpuKernelRun e;
    e.tgid = tgid;
    e.launch_tid = launch->tid;
    e.launch_ns = launch->ts;
    e.start_ns = r.start;
    e.end_ns = r.end;
    e.kernel = label;
    e.service = p.service;
    e.device = r.device_id;
    e.stream = r.stream_id;
    e.correlation_id = r.correlation_id;
    options_.on_kernel(e);
  }
  if (launch) {
    // The CPU side: the launch call on the launching thread (its duration is not probed; a
    // 1 us slice marks it) and an arrow to the kernel.
    TraceRecord l;
    l.kind = TraceRecord::Kind::kLaunch;
    l.pid = tgid;
    l.tid = launch->tid;
    l.start_ns = static_cast<int64_t>(launch->ts);
    l.duration_ns = 1000;
    l.name = LaunchCallName(launch->cbid, launch->domain);
    l.kernel = names;
    l.correlation_id = r.correlation_id;
    timeline_.Add(std::move(l));
    timeline_.AddLaunchArrow(tgid, launch->tid, static_cast<int64_t>(launch->ts), track,
                             static_cast<int64_t>(r.start));
  }
}

void GpuAggregator::HandleCuptiMemcpy(const cupti_memcpy_event& e) {
  const uint32_t tgid = e.hdr.tgid;
  ProcessState& p = procs_[tgid];
  const auto& r = e.rec;
  const char* kind = MemcpyKindName(r.copy_kind);
  const uint64_t ns = r.end > r.start ? r.end - r.start : 0;
  CounterFor(memcpy_bytes_series_, p, "kind", kind).Increment(static_cast<double>(r.bytes));
  HistogramFor(memcpy_duration_series_, p, "kind", kind).Observe(Seconds(ns));
  TraceRecord t;
  t.kind = TraceRecord::Kind::kMemcpy;
  t.pid = tgid;
  t.tid = timeline_.GpuTrack(tgid, r.device_id, r.stream_id);
  t.start_ns = static_cast<int64_t>(r.start);
  t.duration_ns = static_cast<int64_t>(ns);
  t.detail = kind;
  t.bytes = r.bytes;
  t.correlation_id = r.correlation_id;
  t.device = r.device_id;
  t.stream = r.stream_id;
  timeline_.Add(std::move(t));
}

profile::Profile GpuAggregator::Profile(const std::set<uint32_t>& pids) const {
  std::lock_guard<std::mutex> lock(mu_);
  return profile_.Cumulative(pids, [this](uint32_t pid) { return ServiceOf(pid); });
}

GpuAggregator::RecordingId GpuAggregator::StartRecording(std::set<uint32_t> pids) {
  std::lock_guard<std::mutex> lock(mu_);
  return profile_.StartRecording(std::move(pids));
}

profile::Profile GpuAggregator::StopRecording(RecordingId id) {
  std::lock_guard<std::mutex> lock(mu_);
  return profile_.StopRecording(id, [this](uint32_t pid) { return ServiceOf(pid); });
}

std::string GpuAggregator::ServiceOf(uint32_t pid) const {
  auto it = procs_.find(pid);
  return it != procs_.end() ? it->second.service : kUnknown;
}

chrome::Trace GpuAggregator::ChromeTrace(const std::set<uint32_t>& pids, int64_t since_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  return timeline_.Trace(pids, since_ns, [this](uint32_t pid) { return ServiceOf(pid); });
}

std::vector<ProcessLeaks> GpuAggregator::Leaks(size_t top_sites) const {
  std::lock_guard<std::mutex> lock(mu_);
  return leaks_.Leaks(top_sites, [this](uint32_t pid) { return ServiceOf(pid); });
}

std::string GpuAggregator::LeakReport(size_t top_n) const { return GpuLeaks::Report(Leaks(top_n)); }

void GpuAggregator::ForgetStacks(bool cuda, bool cupti) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = stack_cache_.begin(); it != stack_cache_.end();) {
    const bool is_cupti = (it->first.id >> 63) != 0;
    it = (is_cupti ? cupti : cuda) ? stack_cache_.erase(it) : std::next(it);
  }
}

void GpuAggregator::ForgetProcesses(const std::vector<uint32_t>& pids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t pid : pids) {
    for (auto it = stack_cache_.begin(); it != stack_cache_.end();) {
      const uint32_t tgid = static_cast<uint32_t>((it->first.id >> 32) & 0x7fffffffu);
      it = tgid == pid ? stack_cache_.erase(it) : std::next(it);
    }
    auto it = procs_.find(pid);
    if (it == procs_.end()) continue;
    ProcessState gone = std::move(it->second);
    procs_.erase(it);
    leaks_.Forget(pid);
    if (gone.memory_gauge) {
      bool shared = false;
      for (const auto& [tgid, q] : procs_) shared |= q.memory_gauge == gone.memory_gauge;
      if (shared) {
        for (auto& [tgid, q] : procs_) {
          if (q.memory_gauge == gone.memory_gauge) {
            UpdateMemoryGauge(q);
            break;
          }
        }
      } else {
        memory_allocated_.Remove(gone.memory_gauge);
      }
    }
    timeline_.ForgetProcess(pid);
    if (options_.symbolizer) options_.symbolizer->Forget(pid);
  }
}

GpuAggregatorStats GpuAggregator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace zerotrace::gpu
