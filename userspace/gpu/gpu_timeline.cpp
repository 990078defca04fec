#include "gpu/gpu_timeline.h"

#include <iterator>
#include <string>

namespace zerotrace::gpu {
namespace {
constexpr uint64_t kGpuTrackBase = 1000000000;  // above any pid_max: never a real tid
}  // namespace

uint64_t GpuTimeline::GpuTrack(uint32_t tgid, uint32_t device, uint32_t stream) {
  auto key = std::make_tuple(tgid, device, stream);
  if (auto it = gpu_tracks_.find(key); it != gpu_tracks_.end()) return it->second;
  uint64_t n = 0;
  for (const auto& [k, v] : gpu_tracks_) n += std::get<0>(k) == tgid;
  const uint64_t tid = kGpuTrackBase + n;
  gpu_tracks_.emplace(key, tid);
  track_names_[{tgid, tid}] = "GPU " + std::to_string(device) + " stream " + std::to_string(stream);
  return tid;
}

void GpuTimeline::Add(Record r) {
  records_.push_back(std::move(r));
  while (records_.size() > max_slices_) records_.pop_front();
}

void GpuTimeline::AddLaunchArrow(uint32_t pid, uint64_t from_tid, int64_t from_ns, uint64_t to_tid,
                                 int64_t to_ns) {
  chrome::Flow f;
  f.id = next_flow_id_++;
  f.name = "launch";
  f.category = "launch";
  f.from_pid = pid;
  f.from_tid = from_tid;
  f.from_ns = from_ns;
  f.to_pid = pid;
  f.to_tid = to_tid;
  f.to_ns = to_ns;
  flows_.push_back(std::move(f));
  while (flows_.size() > max_slices_ / 2 + 1) flows_.pop_front();
}

chrome::Slice GpuTimeline::ToSlice(const Record& r) {
  using Kind = Record::Kind;
  chrome::Slice s;
  s.pid = r.pid;
  s.tid = r.tid;
  s.start_ns = r.start_ns;
  s.duration_ns = r.duration_ns;
  const bool gpu = r.kind == Kind::kKernel || r.kind == Kind::kMemcpy || r.kind == Kind::kMemset;
  s.category = gpu ? "gpu" : "cuda";
  auto dims = [](const int64_t* d) {
    return std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" + std::to_string(d[2]);
  };
  switch (r.kind) {
    case Kind::kDriverCall:
    case Kind::kLaunch:
      s.name = r.name ? r.name : "unknown";
      break;
    case Kind::kKernel:
      s.name = r.kernel ? r.kernel->short_ : "unknown";
      break;
    case Kind::kMemcpy:
      s.name = std::string("Memcpy ") + (r.detail ? r.detail : "unknown");
      break;
    case Kind::kMemset:
      s.name = "Memset";
      break;
  }
  if (r.kernel && r.kind != Kind::kKernel) s.args["kernel"] = r.kernel->full;
  if (r.bytes) s.args["bytes"] = r.bytes;
  if (r.detail && r.kind == Kind::kDriverCall) s.args["kind"] = std::string(r.detail);
  if (r.kind == Kind::kLaunch || gpu) s.args["correlation_id"] = uint64_t{r.correlation_id};
  if (r.kind == Kind::kKernel) {
    if (r.kernel) s.args["kernel"] = r.kernel->full;
    s.args["grid"] = dims(r.grid);
    s.args["block"] = dims(r.block);
    s.args["registers_per_thread"] = uint64_t{r.registers};
    s.args["shared_memory"] = r.shared_memory;
  } else if (r.kind == Kind::kDriverCall && r.kernel) {
    s.args["grid"] = dims(r.grid);
    s.args["block"] = dims(r.block);
  }
  if (gpu) {
    s.args["device"] = uint64_t{r.device};
    s.args["stream"] = uint64_t{r.stream};
  }
  return s;
}

chrome::Trace GpuTimeline::Trace(const std::set<uint32_t>& pids, int64_t since_ns,
                                 const ProcessName& name) const {
  chrome::Trace t;
  t.metadata["tool"] = "zerotrace";
  t.metadata["clock"] = "CLOCK_MONOTONIC";
  std::set<uint32_t> seen_pids;
  std::set<std::pair<uint32_t, uint64_t>> seen_tracks;
  for (const auto& r : records_) {
    if (r.start_ns < since_ns || (!pids.empty() && !pids.count(r.pid))) continue;
    t.slices.push_back(ToSlice(r));
    seen_pids.insert(r.pid);
    seen_tracks.insert({r.pid, r.tid});
  }
  for (const auto& f : flows_) {
    if (f.from_ns < since_ns || (!pids.empty() && !pids.count(f.from_pid))) continue;
    t.flows.push_back(f);
  }
  for (uint32_t pid : seen_pids) {
    t.names.push_back({pid, 0, true, name(pid) + " (pid " + std::to_string(pid) + ")", 0});
  }
  for (const auto& [pid, tid] : seen_tracks) {
    if (auto it = track_names_.find({pid, tid}); it != track_names_.end()) {
      t.names.push_back({pid, tid, false, it->second, static_cast<int64_t>(tid)});
    }
  }
  return t;
}

void GpuTimeline::ForgetProcess(uint32_t pid) {
  for (auto t = gpu_tracks_.begin(); t != gpu_tracks_.end();) {
    t = std::get<0>(t->first) == pid ? gpu_tracks_.erase(t) : std::next(t);
  }
  for (auto t = track_names_.begin(); t != track_names_.end();) {
    t = t->first.first == pid ? track_names_.erase(t) : std::next(t);
  }
}

}  // namespace zerotrace::gpu
