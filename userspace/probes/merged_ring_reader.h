#pragma once
// Reads several BPF ring buffers as one stream ordered by each record's timestamp.
//
// The sockets probe writes to one ring per CPU (group): a ring shared by every CPU made each
// event take the ring's spinlock and producer cache line from the other CPUs (≈ 150 ns per event
// on a 2-vCPU VM, scripts/bench-capture-floor.sh). A connection's events can then sit in two
// rings (a thread moved between its read and its write), so the rings are merged: each ring is
// in order on its own, and the head with the smallest timestamp goes first. Records are handed
// out in place, never copied.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"

namespace zerotrace {

class MergedRingReader {
 public:
  // `data` points at the record, valid only during the call.
  using Handler = std::function<void(const void* data, size_t size)>;

  MergedRingReader() = default;
  ~MergedRingReader();
  MergedRingReader(const MergedRingReader&) = delete;
  MergedRingReader& operator=(const MergedRingReader&) = delete;

  // Maps ring `fd` (a BPF_MAP_TYPE_RINGBUF of `bytes`, a power of two) and watches it; the fd
  // is the reader's from then on, also when this fails.
  Status Add(int fd, uint64_t bytes);
  // A ring already in memory, laid out as the kernel maps one: the consumer position, the
  // producer position, and `bytes` of data readable twice in a row (bytes * 2). Not watched for
  // wakeups, not unmapped. For tests, and for rings mapped elsewhere.
  void AddMapped(uint64_t* consumer, const uint64_t* producer, const uint8_t* data, uint64_t bytes);
  // How far behind now (CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns) records are merged.
  static constexpr uint64_t kOrderSlackNs = 5'000'000;

  // Waits up to timeout_ms for a wakeup from any ring (0: no wait), then hands out the committed
  // records older than kOrderSlackNs (every one when timeout_ms is 0: a final drain), merged by
  // the u64 timestamp at `ts_offset`. Returns the number handed out.
  int Poll(int timeout_ms, size_t ts_offset, const Handler& handler);
  size_t rings() const { return rings_.size(); }

 private:
  struct Ring {
    int fd = -1;
    uint64_t mask = 0;
    uint64_t* consumer = nullptr;        // page 0, ours to advance
    const uint64_t* producer = nullptr;  // page 1, then the data pages mapped twice
    const uint8_t* data = nullptr;
    size_t producer_map_bytes = 0;  // 0: not ours to unmap
  };
  Status Map(int fd, uint64_t bytes);
  // The head record of `r` if one is committed: its length and data; skips discarded ones.
  static bool Head(Ring& r, const uint8_t** data, uint32_t* len, uint64_t* advance);

  std::vector<Ring> rings_;
  struct HeadOf {
    const uint8_t* data = nullptr;
    uint32_t len = 0;
    uint64_t advance = 0;
    uint64_t ts = 0;
    bool valid = false;
  };
  std::vector<HeadOf> heads_;  // Poll's, kept to spare an allocation per call
  int epoll_fd_ = -1;
  size_t page_ = 0;
};

}  // namespace zerotrace
