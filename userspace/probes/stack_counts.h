#pragma once

#include <cstring>
#include <vector>

#include "core/result.h"
#include "probes/bpf_util.h"
#include "probes/stack_source.h"

namespace zerotrace {

// Drains a stack-count map whose keys hold tgid, tid, kstack_id, ustack_id and whose values hold
// count and comm (the oncpu and offcpu ABIs); `weight(value)` is the sample's RawStackCount::value.
template <typename Key, typename Value, typename Weight>
Result<std::vector<RawStackCount>> DrainStackCounts(int fd, Weight weight) {
  auto entries = DrainHashMap<Key, Value>(fd);
  if (!entries) return entries.error();
  std::vector<RawStackCount> out;
  out.reserve(entries->size());
  for (const auto& [k, v] : *entries) {
    RawStackCount r;
    r.tgid = k.tgid;
    r.tid = k.tid;
    r.kstack_id = k.kstack_id;
    r.ustack_id = k.ustack_id;
    r.count = v.count;
    r.value = weight(v);
    r.comm.assign(v.comm, strnlen(v.comm, sizeof(v.comm)));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace zerotrace
