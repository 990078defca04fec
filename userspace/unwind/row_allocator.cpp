#include "unwind/row_allocator.h"

namespace zerotrace::unwind {

RowAllocator::RowAllocator(uint32_t capacity) : capacity_(capacity) {
  if (capacity > 0) free_[0] = capacity;
}

std::optional<uint32_t> RowAllocator::Allocate(uint32_t count) {
  if (count == 0) return std::nullopt;
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < count) continue;
    const uint32_t begin = it->first;
    const uint32_t left = it->second - count;
    free_.erase(it);
    if (left > 0) free_[begin + count] = left;
    used_ += count;
    return begin;
  }
  return std::nullopt;
}

void RowAllocator::Free(uint32_t begin, uint32_t count) {
  if (count == 0) return;
  used_ -= count;
  auto [it, inserted] = free_.emplace(begin, count);
  if (!inserted) return;  // freed twice: a caller bug, ignored rather than corrupting the list
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

}  // namespace zerotrace::unwind
