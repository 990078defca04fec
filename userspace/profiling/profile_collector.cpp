#include "profiling/profile_collector.h"
#include "core/process_alive.h"

#include <algorithm>
#include <fstream>
#include <thread>

#include "python/frame_symbolizer.h"
#include "symbolizer/elf_user_symbolizer.h"
#include "symbolizer/kallsyms.h"

namespace zerotrace::profiling {
namespace {

int64_t UnixNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ReadComm(uint32_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

}  // namespace

Result<Symbolizers> MakeDefaultSymbolizers(const std::string& kallsyms,
                                           const std::string& proc_root) {
  auto kernel = symbolizer::KallsymsSymbolizer::Create(kallsyms);
  if (!kernel) return kernel.error();
  Symbolizers s;
  s.kernel = *kernel;
  // Python frames of walked stacks are named from the process's code objects, the rest from
  // ELF symbols; both are cached per (process, address).
  s.user = std::make_shared<symbolizer::CachingSymbolizer>(
      std::make_shared<python::PythonFrameSymbolizer>(
          std::make_shared<symbolizer::ElfUserSymbolizer>(proc_root), proc_root));
  return s;
}

Result<std::unique_ptr<ProfileCollector>> ProfileCollector::CreateOnCpu(Features& features,
                                                                        ProcessFilter& filter,
                                                                        const OnCpuOptions& options,
                                                                        Symbolizers symbolizers) {
  auto probe = std::make_unique<OnCpuProbe>(features, filter, options);
  if (auto s = probe->Attach(); !s) return Error{s.message()};
  Probe* p = probe.get();
  return std::make_unique<ProfileCollector>(std::move(probe), p, std::move(symbolizers));
}

Result<std::unique_ptr<ProfileCollector>> ProfileCollector::CreateOffCpu(
    Features& features, ProcessFilter& filter, const OffCpuOptions& options,
    Symbolizers symbolizers) {
  auto probe = std::make_unique<OffCpuProbe>(features, filter, options);
  if (auto s = probe->Attach(); !s) return Error{s.message()};
  Probe* p = probe.get();
  return std::make_unique<ProfileCollector>(std::move(probe), p, std::move(symbolizers));
}

ProfileCollector::ProfileCollector(std::unique_ptr<StackSource> source, Probe* probe,
                                   Symbolizers symbolizers)
    : source_(std::move(source)),
      probe_(probe),
      symbolizers_(symbolizers),
      assembler_(*source_, std::move(symbolizers)) {}

ProfileCollector::~ProfileCollector() = default;

void ProfileCollector::SetProcessNamer(
    std::function<std::string(uint32_t pid, const std::string& comm)> namer) {
  std::lock_guard<std::mutex> lock(poll_mu_);
  namer_ = std::move(namer);
  names_.clear();
}

void ProfileCollector::SetProcessLabeler(
    std::function<std::map<std::string, std::string>(uint32_t pid)> labeler) {
  std::lock_guard<std::mutex> lock(poll_mu_);
  labeler_ = std::move(labeler);
  labels_.clear();
}

std::string ProfileCollector::ProcessName(uint32_t pid, const std::string& comm) {
  if (auto it = names_.find(pid); it != names_.end()) return it->second;
  std::string name = namer_ ? namer_(pid, comm) : ReadComm(pid);
  if (name.empty()) name = comm;
  names_[pid] = name;
  return name;
}

Status ProfileCollector::Poll() {
  std::lock_guard<std::mutex> poll_lock(poll_mu_);
  auto drained = source_->Drain();
  if (!drained) return Error{drained.error().message};

  // Snapshot every process seen (maps, symbol caches) before resolving anything.
  std::set<uint32_t> pids;
  for (const auto& r : *drained) pids.insert(r.tgid);
  for (uint32_t pid : pids) symbolizers_.user->Prepare(pid);

  std::vector<profile::StackSample> samples;
  samples.reserve(drained->size());
  for (const auto& r : *drained) {
    if (r.value == 0) continue;
    samples.push_back(assembler_.Assemble(r, ProcessName(r.tgid, r.comm)));
    if (labeler_) {
      auto it = labels_.find(r.tgid);
      if (it == labels_.end()) it = labels_.emplace(r.tgid, labeler_(r.tgid)).first;
      samples.back().labels = it->second;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t period = source_->sample_period_ns();
    const bool oncpu = source_->profile_type() == profile::ProfileType::kOnCpu;
    for (size_t i = 0, j = 0; i < drained->size(); ++i) {
      const auto& r = (*drained)[i];
      if (r.value == 0) continue;
      PidTotal& t = totals_[r.tgid];
      t.comm = samples[j++].process;
      t.samples += r.count;
      t.nanoseconds += oncpu ? r.value * period : r.value;
    }
    for (auto& [id, rec] : recordings_) {
      bool added = false;
      for (const auto& s : samples) {
        if (!rec.pids.empty() && !rec.pids.count(s.pid)) continue;
        rec.profile.samples.push_back(s);
        added = true;
      }
      if (added) profile::MergeIdenticalStacks(rec.profile);
    }
  }
  assembler_.EndPoll();
  SweepExited();
  return Status::Ok();
}

void ProfileCollector::SweepExited() {
  // Same two-step rule as the symbolizer cache: forget a process one poll after it was first
  // seen dead, so samples still queued in the kernel at its exit resolve with its snapshot.
  std::vector<uint32_t> gone;
  for (const auto& [pid, name] : names_) {
    if (ProcessAlive(pid)) {
      dying_.erase(pid);
    } else if (!dying_.insert(pid).second) {
      gone.push_back(pid);
    }
  }
  for (uint32_t pid : gone) {
    dying_.erase(pid);
    names_.erase(pid);
    labels_.erase(pid);
    assembler_.ForgetProcess(pid);
  }
  if (auto* caching = dynamic_cast<symbolizer::CachingSymbolizer*>(symbolizers_.user.get())) {
    caching->SweepExited([](uint32_t pid) { return ProcessAlive(pid); });
  }
}

ProfileCollector::RecordingId ProfileCollector::StartRecording(std::set<uint32_t> pids) {
  (void)Poll();  // what was counted before the start belongs to earlier readers
  std::lock_guard<std::mutex> lock(mu_);
  const RecordingId id = next_id_++;
  Recording& r = recordings_[id];
  r.pids = std::move(pids);
  r.profile.type = source_->profile_type();
  r.profile.period_ns = source_->sample_period_ns();
  r.profile.start_unix_ns = UnixNowNs();
  r.started = std::chrono::steady_clock::now();
  return id;
}

profile::Profile ProfileCollector::StopRecording(RecordingId id) {
  (void)Poll();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = recordings_.find(id);
  if (it == recordings_.end()) return {};
  profile::Profile p = std::move(it->second.profile);
  p.duration_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now() - it->second.started)
                      .count();
  recordings_.erase(it);
  return p;
}

profile::Profile ProfileCollector::Record(std::chrono::milliseconds duration,
                                          std::set<uint32_t> pids,
                                          std::chrono::milliseconds poll_interval,
                                          const std::function<bool()>& stop,
                                          const std::function<void()>& on_poll) {
  const RecordingId id = StartRecording(std::move(pids));
  const auto deadline = std::chrono::steady_clock::now() + duration;
  auto next_poll = std::chrono::steady_clock::now() + poll_interval;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || (stop && stop())) break;
    if (now >= next_poll) {
      (void)Poll();
      if (on_poll) on_poll();
      next_poll = now + poll_interval;
    }
    const auto wake = std::min({deadline, next_poll, now + std::chrono::milliseconds(100)});
    std::this_thread::sleep_until(wake);
  }
  return StopRecording(id);
}

std::map<uint32_t, PidTotal> ProfileCollector::TakeTotals() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<uint32_t, PidTotal> out;
  out.swap(totals_);
  return out;
}

uint64_t ProfileCollector::events_lost() const { return source_->kernel_drops(); }

uint64_t ProfileCollector::stacks_lost() const {
  return source_->kernel_stack_drops() + assembler_.lost_stacks();
}

}  // namespace zerotrace::profiling
