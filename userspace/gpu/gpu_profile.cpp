#include "gpu/gpu_profile.h"

#include <algorithm>
#include <utility>

namespace zerotrace::gpu {

size_t GpuProfile::KeyHash::operator()(const Key& k) const {
  size_t h = std::hash<const void*>()(k.stack);
  h ^= std::hash<std::string>()(k.kernel) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h ^ (static_cast<size_t>(k.pid) * 0x9e3779b97f4a7c15ULL);
}

void GpuProfile::Add(uint32_t pid, const FramesPtr& stack, const std::string& kernel, uint64_t ns) {
  static const FramesPtr kEmpty = std::make_shared<Frames>();
  const FramesPtr& s = stack ? stack : kEmpty;
  Key key{pid, s.get(), kernel};
  auto add = [&](Samples& m, bool bounded) {
    auto it = m.find(key);
    if (it == m.end()) {
      if (bounded && m.size() >= max_stacks_) {
        // Full: the time still counts, under the kernel alone.
        key.stack = kEmpty.get();
        it = m.try_emplace(key, Entry{kEmpty, 0}).first;
        key.stack = s.get();
      } else {
        it = m.emplace(key, Entry{s, 0}).first;
      }
    }
    it->second.ns += ns;
  };
  add(cumulative_, true);
  for (auto& [id, r] : recordings_) {
    if (r.pids.empty() || r.pids.count(pid)) add(r.samples, false);
  }
}

profile::Profile GpuProfile::Cumulative(const std::set<uint32_t>& pids,
                                        const ProcessName& name) const {
  return ToProfile(cumulative_, pids, name);
}

GpuProfile::RecordingId GpuProfile::StartRecording(std::set<uint32_t> pids) {
  const RecordingId id = next_recording_++;
  recordings_[id].pids = std::move(pids);
  return id;
}

profile::Profile GpuProfile::StopRecording(RecordingId id, const ProcessName& name) {
  auto it = recordings_.find(id);
  if (it == recordings_.end()) return profile::Profile{profile::ProfileType::kGpu, {}, 0, 0, 0};
  profile::Profile p = ToProfile(it->second.samples, {}, name);
  recordings_.erase(it);
  return p;
}

profile::Profile GpuProfile::ToProfile(const Samples& samples, const std::set<uint32_t>& pids,
                                       const ProcessName& name) {
  profile::Profile out;
  out.type = profile::ProfileType::kGpu;
  for (const auto& [key, entry] : samples) {
    if (!pids.empty() && !pids.count(key.pid)) continue;
    profile::StackSample s;
    s.pid = key.pid;
    s.process = name(key.pid);
    if (entry.stack) s.frames = *entry.stack;
    if (s.frames.empty()) {
      profile::Frame unknown;
      unknown.function = "[unknown launch site]";
      unknown.kind = profile::FrameKind::kUser;
      s.frames.push_back(std::move(unknown));
    }
    profile::Frame gpu;
    gpu.function = key.kernel;
    gpu.kind = profile::FrameKind::kGpu;
    s.frames.push_back(std::move(gpu));
    s.value = entry.ns;
    out.samples.push_back(std::move(s));
  }
  // Deterministic order: by process, then stack text.
  std::sort(out.samples.begin(), out.samples.end(),
            [](const profile::StackSample& a, const profile::StackSample& b) {
              if (a.pid != b.pid) return a.pid < b.pid;
              const size_t n = std::min(a.frames.size(), b.frames.size());
              for (size_t i = 0; i < n; i++) {
                const std::string fa = profile::FrameName(a.frames[i]);
                const std::string fb = profile::FrameName(b.frames[i]);
                if (fa != fb) return fa < fb;
              }
              return a.frames.size() < b.frames.size();
            });
  profile::MergeIdenticalStacks(out);
  return out;
}

}  // namespace zerotrace::gpu
