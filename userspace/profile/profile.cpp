#include "profile/profile.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

namespace zerotrace::profile {
namespace {

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  uint64_t sum = a + b;
  return sum < a ? UINT64_MAX : sum;
}

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// boost-style combine; good enough to bucket stacks before an exact comparison.
void Combine(size_t& seed, size_t h) {
  seed ^= h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
}

size_t HashSample(const StackSample& s) {
  std::hash<std::string> hs;
  size_t seed = hs(s.process);
  Combine(seed, s.pid);
  Combine(seed, s.truncated ? 1 : 0);
  for (const Frame& f : s.frames) {
    Combine(seed, hs(f.function));
    Combine(seed, hs(f.module));
    Combine(seed, f.address);
    Combine(seed, f.module_offset);
    Combine(seed, static_cast<size_t>(f.kind));
  }
  return seed;
}

bool SameStack(const StackSample& a, const StackSample& b) {
  return a.process == b.process && a.pid == b.pid && a.truncated == b.truncated &&
         a.frames == b.frames;
}

}  // namespace

std::string FrameName(const Frame& frame) {
  std::string base;
  if (!frame.function.empty() && frame.line > 0) {
    const size_t slash = frame.module.rfind('/');
    base = frame.function + " (" +
           (slash == std::string::npos ? frame.module : frame.module.substr(slash + 1)) + ":" +
           std::to_string(frame.line) + ")";
  } else if (!frame.function.empty()) {
    base = frame.function;
  } else if (!frame.module.empty()) {
    base = frame.module + "+" + Hex(frame.module_offset);
  } else if (frame.address != 0) {
    base = Hex(frame.address);
  } else {
    base = "[unknown]";
  }
  if (frame.kind == FrameKind::kGpu) return "[gpu] " + base;
  return base;
}

std::string FrameLabel(const Frame& frame) {
  std::string name = FrameName(frame);
  switch (frame.kind) {
    case FrameKind::kKernel:
      return name + "_[k]";
    case FrameKind::kJit:
      return name + "_[j]";
    default:
      return name;
  }
}

uint64_t TotalValue(const Profile& profile) {
  uint64_t total = 0;
  for (const StackSample& s : profile.samples) total = SaturatingAdd(total, s.value);
  return total;
}

void MergeIdenticalStacks(Profile& profile) {
  std::vector<StackSample> merged;
  merged.reserve(profile.samples.size());
  std::unordered_map<size_t, std::vector<size_t>> buckets;  // hash -> indices into merged
  for (StackSample& s : profile.samples) {
    if (s.value == 0) continue;
    std::vector<size_t>& bucket = buckets[HashSample(s)];
    bool found = false;
    for (size_t idx : bucket) {
      if (SameStack(merged[idx], s)) {
        merged[idx].value = SaturatingAdd(merged[idx].value, s.value);
        found = true;
        break;
      }
    }
    if (!found) {
      bucket.push_back(merged.size());
      merged.push_back(std::move(s));
    }
  }
  profile.samples = std::move(merged);
}

std::vector<FunctionStat> TopFunctions(const Profile& profile, size_t n, TopOrder order) {
  std::map<std::pair<std::string, FrameKind>, FunctionStat> stats;
  std::set<std::pair<std::string, FrameKind>> seen_in_stack;
  for (const StackSample& s : profile.samples) {
    if (s.frames.empty() || s.value == 0) continue;
    seen_in_stack.clear();
    for (size_t i = 0; i < s.frames.size(); ++i) {
      const Frame& f = s.frames[i];
      auto key = std::make_pair(FrameName(f), f.kind);
      FunctionStat& st = stats[key];
      if (st.name.empty()) {
        st.name = key.first;
        st.kind = f.kind;
      }
      // Recursive functions appear several times in one stack; count their total once.
      if (seen_in_stack.insert(key).second) st.total = SaturatingAdd(st.total, s.value);
      if (i + 1 == s.frames.size()) st.self = SaturatingAdd(st.self, s.value);
    }
  }
  std::vector<FunctionStat> out;
  out.reserve(stats.size());
  for (auto& [key, st] : stats) out.push_back(std::move(st));
  auto by_self = [](const FunctionStat& a, const FunctionStat& b) {
    if (a.self != b.self) return a.self > b.self;
    if (a.total != b.total) return a.total > b.total;
    return a.name < b.name;
  };
  auto by_total = [](const FunctionStat& a, const FunctionStat& b) {
    if (a.total != b.total) return a.total > b.total;
    if (a.self != b.self) return a.self > b.self;
    return a.name < b.name;
  };
  if (order == TopOrder::kBySelf) {
    std::stable_sort(out.begin(), out.end(), by_self);
  } else {
    std::stable_sort(out.begin(), out.end(), by_total);
  }
  if (out.size() > n) out.resize(n);
  return out;
}

std::string_view ProfileTypeName(ProfileType type) {
  switch (type) {
    case ProfileType::kOnCpu:
      return "oncpu";
    case ProfileType::kOffCpu:
      return "offcpu";
    case ProfileType::kGpu:
      return "gpu";
  }
  return "unknown";
}

}  // namespace zerotrace::profile
