#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace zerotrace::gpu {

// Itanium demangling of a CUDA kernel name (`_Z6vecAddPKfS0_Pfi` -> `vecAdd(float const*, ...)`);
// names that are not mangled come back unchanged, an empty name becomes "unknown".
std::string DemangleKernelName(const std::string& mangled);

// A metric-friendly kernel name: the function parameter list is dropped, template arguments are
// collapsed to `<...>` when the name is longer than `max_len`, and what is still too long is cut
// (ending in "..."). `void foo<int, 4>(float*, int)` -> `foo<int, 4>` (short enough).
std::string ShortenKernelName(const std::string& demangled, size_t max_len = 96);

// Memoizes DemangleKernelName/ShortenKernelName per mangled name (CUPTI repeats the same few
// names millions of times). Bounded: the cache is emptied when it reaches `max_entries`.
class KernelNameCache {
 public:
  struct Names {
    std::string full;    // demangled, for flamegraphs and traces
    std::string short_;  // shortened, for metric labels
  };
  explicit KernelNameCache(size_t max_entries = 4096, size_t max_len = 96)
      : max_entries_(max_entries), max_len_(max_len) {}
  // Shared so that retained records keep their names when the cache is emptied.
  std::shared_ptr<const Names> Get(const std::string& mangled);
  size_t size() const { return cache_.size(); }

 private:
  size_t max_entries_;
  size_t max_len_;
  std::unordered_map<std::string, std::shared_ptr<const Names>> cache_;
};

// Bounds a label's distinct values per service: the first `max_values` values seen for a service
// are kept, later new ones become "other".
class LabelBound {
 public:
  explicit LabelBound(size_t max_values) : max_values_(max_values) {}
  const std::string& Bound(const std::string& service, const std::string& value);
  void ForgetService(const std::string& service) { seen_.erase(service); }

 private:
  size_t max_values_;
  std::unordered_map<std::string, std::unordered_set<std::string>> seen_;
  std::string other_ = "other";
};

}  // namespace zerotrace::gpu
