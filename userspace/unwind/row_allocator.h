#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace zerotrace::unwind {

// First-fit allocation of contiguous runs in the fixed-size rows array (one run per file);
// freed runs merge with their free neighbours.
class RowAllocator {
 public:
  explicit RowAllocator(uint32_t capacity);
  std::optional<uint32_t> Allocate(uint32_t count);
  void Free(uint32_t begin, uint32_t count);
  uint32_t used() const { return used_; }
  uint32_t capacity() const { return capacity_; }

 private:
  uint32_t capacity_;
  uint32_t used_ = 0;
  std::map<uint32_t, uint32_t> free_;  // begin -> count
};

}  // namespace zerotrace::unwind
