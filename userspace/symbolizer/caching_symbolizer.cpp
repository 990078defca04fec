#include "symbolizer/caching_symbolizer.h"

#include <unistd.h>

#include <string>

namespace zerotrace::symbolizer {

CachingSymbolizer::CachingSymbolizer(SymbolizerPtr inner, size_t max_entries_per_process)
    : inner_(std::move(inner)), max_entries_(max_entries_per_process) {}

void CachingSymbolizer::Prepare(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  cache_.try_emplace(pid);
  inner_->Prepare(pid);
}

flamegraph::Frame CachingSymbolizer::Symbolize(uint32_t pid, uint64_t address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& per_pid = cache_[pid];
  if (auto it = per_pid.find(address); it != per_pid.end()) {
    ++hits_;
    return it->second;
  }
  ++misses_;
  flamegraph::Frame f = inner_->Symbolize(pid, address);
  if (per_pid.size() >= max_entries_) per_pid.clear();  // bound memory; refills on demand
  per_pid.emplace(address, f);
  return f;
}

void CachingSymbolizer::Forget(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  cache_.erase(pid);
  dying_.erase(pid);
  inner_->Forget(pid);
}

std::vector<uint32_t> CachingSymbolizer::SweepExited(const std::function<bool(uint32_t)>& alive) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint32_t> forgotten;
  for (auto it = cache_.begin(); it != cache_.end();) {
    const uint32_t pid = it->first;
    if (alive(pid)) {
      dying_.erase(pid);
      ++it;
      continue;
    }
    if (dying_.insert(pid).second) {  // first time seen dead: keep one more round
      ++it;
      continue;
    }
    dying_.erase(pid);
    inner_->Forget(pid);
    forgotten.push_back(pid);
    it = cache_.erase(it);
  }
  return forgotten;
}

size_t CachingSymbolizer::cached_processes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

bool ProcessAlive(uint32_t pid, const std::string& proc_root) {
  return access((proc_root + "/" + std::to_string(pid)).c_str(), F_OK) == 0;
}

}  // namespace zerotrace::symbolizer
