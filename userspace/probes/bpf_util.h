#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace zerotrace {

struct ProgramStats {
  std::string name;
  uint32_t id = 0;
  uint64_t run_time_ns = 0;
  uint64_t run_count = 0;
};

// Per-program run time and run count as the kernel accounts them while BPF_ENABLE_STATS is on.
std::vector<ProgramStats> ReadProgramStats(bpf_object* obj);

// Sum over CPUs and over indexes [0, n) of a BPF_MAP_TYPE_PERCPU_ARRAY of __u64 counters (the
// probes' `drops` maps). 0 when the map cannot be read.
uint64_t SumPerCpuCounters(int map_fd, uint32_t n);
// Keys [first, end) of the same kind of map.
uint64_t SumPerCpuCounters(int map_fd, uint32_t first, uint32_t end);

// Destroys the links together: each uprobe or perf-event tracepoint link waits for an RCU grace
// period on release (~0.1 s), so releasing dozens one by one would take seconds at shutdown.
// Null entries are skipped; every entry is null afterwards.
void DestroyLinksConcurrently(std::vector<bpf_link*>& links);

// Every key of a BPF map at the moment of the walk (entries added meanwhile may be missed).
template <typename Key>
std::vector<Key> ListMapKeys(int fd) {
  std::vector<Key> keys;
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}

// Reads and deletes every entry of a BPF hash map. Keys are listed first (deleting while walking
// a hash map restarts the walk), then each is taken with the atomic lookup-and-delete so a
// concurrent increment is either in this read or the next, never lost.
template <typename Key, typename Value>
Result<std::vector<std::pair<Key, Value>>> DrainHashMap(int fd) {
  const std::vector<Key> keys = ListMapKeys<Key>(fd);
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

// Empties a stack map once it holds more than `fraction` of `capacity` stacks (ids in use are
// then dropped with it; their samples fall back to "no stack"). True when it did.
inline bool ClearStackTraceMapIfFull(int fd, uint32_t capacity, double fraction) {
  const auto keys = ListMapKeys<uint32_t>(fd);
  if (static_cast<double>(keys.size()) <= fraction * capacity) return false;
  for (uint32_t k : keys) bpf_map_delete_elem(fd, &k);
  return true;
}

}  // namespace zerotrace
