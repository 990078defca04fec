#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "profiling/stack_source.h"

namespace zerotrace::profiling {

// Reads and deletes every entry of a BPF hash map. Keys are listed first (deleting while walking
// a hash map restarts the walk), then each is taken with the atomic lookup-and-delete so a
// concurrent increment is either in this read or the next, never lost.
template <typename Key, typename Value>
Result<std::vector<std::pair<Key, Value>>> DrainHashMap(int fd) {
  std::vector<Key> keys;
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  std::vector<std::pair<Key, Value>> out;
  out.reserve(keys.size());
  for (const Key& k : keys) {
    Value v{};
    if (bpf_map_lookup_and_delete_elem(fd, &k, &v) == 0) {
      out.emplace_back(k, v);
      continue;
    }
    if (errno == ENOENT) continue;
    // Kernels before 5.14 cannot lookup-and-delete hash maps: fall back to two calls.
    if (bpf_map_lookup_elem(fd, &k, &v) == 0) {
      bpf_map_delete_elem(fd, &k);
      out.emplace_back(k, v);
    }
  }
  return out;
}

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

// Reads one stack of a BPF_MAP_TYPE_STACK_TRACE map: addresses up to the first zero.
inline bool ReadStackTrace(int fd, int32_t id, uint32_t depth, std::vector<uint64_t>* out) {
  out->assign(depth, 0);
  uint32_t key = static_cast<uint32_t>(id);
  if (id < 0 || bpf_map_lookup_elem(fd, &key, out->data()) != 0) {
    out->clear();
    return false;
  }
  size_t n = 0;
  while (n < out->size() && (*out)[n] != 0) ++n;
  out->resize(n);
  return true;
}

inline void DeleteStackTrace(int fd, int32_t id) {
  uint32_t key = static_cast<uint32_t>(id);
  if (id >= 0) bpf_map_delete_elem(fd, &key);
}

inline void ClearStackTraceMap(int fd) {
  uint32_t next = 0;
  // Deleting the first key each time avoids walking a map that changes under us.
  while (bpf_map_get_next_key(fd, nullptr, &next) == 0) {
    if (bpf_map_delete_elem(fd, &next) != 0) break;
  }
}

}  // namespace zerotrace::profiling
