#pragma once

#include <bpf/bpf.h>

#include <cstdint>
#include <vector>

#include "unwind.h"

namespace zerotrace {

// Reads a stack the BPF walker stored (unwind_stacks map, id with ZT_UNWIND_STACK_ID_BIT).
inline bool ReadWalkedStack(int fd, int32_t id, std::vector<uint64_t>* leaf_first) {
  leaf_first->clear();
  zt_unwind_stack s{};
  const uint32_t key = static_cast<uint32_t>(id);
  if (id < 0 || bpf_map_lookup_elem(fd, &key, &s) != 0) return false;
  const uint32_t len =
      s.len < sizeof(s.pcs) / sizeof(s.pcs[0]) ? s.len : sizeof(s.pcs) / sizeof(s.pcs[0]);
  leaf_first->assign(s.pcs, s.pcs + len);
  return true;
}

}  // namespace zerotrace
