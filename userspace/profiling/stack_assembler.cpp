#include "profiling/stack_assembler.h"

#include <cerrno>

namespace zerotrace::profiling {
namespace {

// The kernel's code that runs a BPF program from a tracepoint, and the program itself.
bool IsTracingMachinery(const profile::Frame& f) {
  const std::string& n = f.function;
  auto starts = [&](const char* prefix) { return n.rfind(prefix, 0) == 0; };
  return starts("bpf_trace_run") || starts("__bpf_trace_") || starts("__traceiter_") ||
         starts("perf_trace_") || starts("trace_call_bpf") || starts("__bpf_prog_run") ||
         starts("bpf_prog_") || f.module == "[bpf]";
}

// Off-CPU stacks are taken inside the sched_switch program: their leaf frames are that program
// and what called it, not where the thread blocked. Cuts from the outermost such frame among
// the last few (an unnamed program address above it goes too).
void TrimCaptureFrames(std::vector<profile::Frame>* root_first) {
  constexpr size_t kWindow = 8;
  const size_t n = root_first->size();
  for (size_t i = n > kWindow ? n - kWindow : 0; i < n; ++i) {
    if (IsTracingMachinery((*root_first)[i])) {
      root_first->resize(i);
      return;
    }
  }
}

}  // namespace

StackAssembler::StackAssembler(StackSource& source, Symbolizers symbolizers)
    : source_(source), symbolizers_(std::move(symbolizers)) {}

const StackAssembler::Cached& StackAssembler::Resolve(uint32_t pid, int32_t id, bool user) {
  const uint64_t user_key = (static_cast<uint64_t>(pid) << 32) | static_cast<uint32_t>(id);
  ids_seen_.insert(id);
  if (user) {
    if (auto it = user_.find(user_key); it != user_.end()) return it->second;
  } else {
    if (auto it = kernel_.find(id); it != kernel_.end()) return it->second;
  }
  Cached c;
  if (!source_.ReadStack(id, &scratch_)) {
    c.lost = true;  // the id was cleared between the kernel's count and our read
  } else {
    c.truncated = scratch_.size() >= source_.max_stack_depth();
    symbolizer::Symbolizer& sym = user ? *symbolizers_.user : *symbolizers_.kernel;
    c.root_first.reserve(scratch_.size());
    for (auto it = scratch_.rbegin(); it != scratch_.rend(); ++it) {
      c.root_first.push_back(sym.Symbolize(pid, *it));
    }
    if (!user && source_.profile_type() == profile::ProfileType::kOffCpu) {
      TrimCaptureFrames(&c.root_first);
    }
  }
  if (user) return user_.emplace(user_key, std::move(c)).first->second;
  return kernel_.emplace(id, std::move(c)).first->second;
}

namespace {

profile::Frame Marker(const char* name, profile::FrameKind kind) {
  profile::Frame f;
  f.function = name;
  f.kind = kind;
  return f;
}

}  // namespace

profile::StackSample StackAssembler::Assemble(const RawStackCount& raw,
                                              const std::string& process_name) {
  profile::StackSample s;
  s.process = process_name.empty() ? raw.comm : process_name;
  s.pid = raw.tgid;
  s.value = raw.value;
  auto add = [&](int32_t id, bool user) {
    if (id == -EFAULT) return;  // no stack of this kind: not a loss
    const char* marker = user ? kLostUserStack : kLostKernelStack;
    const auto kind = user ? profile::FrameKind::kUser : profile::FrameKind::kKernel;
    if (id < 0) {  // the kernel could not store it and counted that in its drops already
      s.frames.push_back(Marker(marker, kind));
      return;
    }
    const Cached& c = Resolve(raw.tgid, id, user);
    if (c.lost) {
      ++lost_stacks_;
      s.frames.push_back(Marker(marker, kind));
      return;
    }
    s.truncated = s.truncated || c.truncated;
    s.frames.insert(s.frames.end(), c.root_first.begin(), c.root_first.end());
  };
  add(raw.ustack_id, true);
  add(raw.kstack_id, false);
  return s;
}

bool StackAssembler::EndPoll() {
  if (source_.delete_stacks_after_read()) {
    // Delete what the previous poll used and this one did not: a sample counted right after our
    // drain may still refer to an id this poll read, and finds it in the next poll.
    std::unordered_set<int32_t> gone;
    for (int32_t id : previous_ids_) {
      if (!ids_seen_.count(id)) gone.insert(id);
    }
    previous_ids_ = std::move(ids_seen_);
    ids_seen_.clear();
    if (gone.empty()) return false;
    for (int32_t id : gone) {
      source_.DeleteStack(id);
      kernel_.erase(id);
    }
    for (auto it = user_.begin(); it != user_.end();) {
      if (gone.count(static_cast<int32_t>(static_cast<uint32_t>(it->first)))) {
        it = user_.erase(it);
      } else {
        ++it;
      }
    }
    return true;
  }
  if (ids_seen_.size() * 4 < static_cast<size_t>(source_.stack_capacity()) * 3) return false;
  source_.ClearStacks();
  kernel_.clear();
  user_.clear();
  ids_seen_.clear();
  return true;
}

void StackAssembler::ForgetProcess(uint32_t pid) {
  for (auto it = user_.begin(); it != user_.end();) {
    if (it->first >> 32 == pid) {
      it = user_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace zerotrace::profiling
