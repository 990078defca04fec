#include "symbolizer/caching_symbolizer.h"

#include <unistd.h>

#include <string>

namespace zerotrace::symbolizer {
namespace {

// A frame's heap cost in the cache: the node, and its strings where they exceed the inline buffer.
size_t FrameBytes(const profile::Frame& f) {
  auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  return sizeof(profile::Frame) + 32 + heap(f.function) + heap(f.module) + heap(f.build_id);
}

}  // namespace

CachingSymbolizer::CachingSymbolizer(SymbolizerPtr inner, size_t max_entries)
    : inner_(std::move(inner)), max_entries_(max_entries) {}

void CachingSymbolizer::Prepare(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  cache_.try_emplace(pid);
  inner_->Prepare(pid);
}

profile::Frame CachingSymbolizer::Symbolize(uint32_t pid, uint64_t address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& per_pid = cache_[pid];
  if (auto it = per_pid.find(address); it != per_pid.end()) {
    ++hits_;
    return it->second;
  }
  ++misses_;
  profile::Frame f = inner_->Symbolize(pid, address);
  if (entries_ >= max_entries_) {
    // Bound memory: drop the largest caches (they refill on demand) down to 3/4 of the bound, so
    // the scan over processes runs once per quarter of the bound, not on every later miss.
    while (entries_ > max_entries_ / 4 * 3) {
      auto largest = cache_.begin();
      for (auto it = cache_.begin(); it != cache_.end(); ++it) {
        if (it->second.size() > largest->second.size()) largest = it;
      }
      Drop(largest->second);
      largest->second = {};  // releases the buckets too
    }
  }
  per_pid.emplace(address, f);
  ++entries_;
  frame_bytes_ += FrameBytes(f);
  return f;
}

void CachingSymbolizer::Forget(uint32_t pid) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = cache_.find(pid); it != cache_.end()) {
    Drop(it->second);
    cache_.erase(it);
  }
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
    Drop(it->second);
    it = cache_.erase(it);
  }
  return forgotten;
}

void CachingSymbolizer::Drop(const std::unordered_map<uint64_t, profile::Frame>& frames) {
  for (const auto& [a, frame] : frames) frame_bytes_ -= FrameBytes(frame);
  entries_ -= frames.size();
}

size_t CachingSymbolizer::memory_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return frame_bytes_ + inner_->memory_bytes();
}

size_t CachingSymbolizer::cached_frames() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_;
}

size_t CachingSymbolizer::cached_processes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

}  // namespace zerotrace::symbolizer
