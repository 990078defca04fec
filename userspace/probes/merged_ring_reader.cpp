#include "probes/merged_ring_reader.h"

#include <linux/bpf.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "core/clock.h"

namespace zerotrace {
namespace {

template <typename T>
T LoadAcquire(const T* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
void StoreRelease(uint64_t* p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

}  // namespace

MergedRingReader::~MergedRingReader() {
  for (Ring& r : rings_) {
    if (r.producer_map_bytes == 0) continue;
    munmap(r.consumer, page_);
    munmap(const_cast<uint64_t*>(r.producer), r.producer_map_bytes);
    close(r.fd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

Status MergedRingReader::Add(int fd, uint64_t bytes) {
  Status s = Map(fd, bytes);
  if (!s && fd >= 0) close(fd);
  return s;
}

Status MergedRingReader::Map(int fd, uint64_t bytes) {
  if (page_ == 0) page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (bytes == 0 || (bytes & (bytes - 1)) != 0 || bytes % page_ != 0) {
    return Error{"ring buffer size " + std::to_string(bytes) + " is not a power of two pages"};
  }
  if (epoll_fd_ < 0) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return Error{std::string("epoll_create1: ") + std::strerror(errno)};
  }
  Ring r;
  r.fd = fd;
  r.mask = bytes - 1;
  void* c = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (c == MAP_FAILED) return Error{std::string("mapping a ring buffer: ") + std::strerror(errno)};
  r.consumer = static_cast<uint64_t*>(c);
  // The data pages are mapped twice in a row, so a record that wraps reads as one piece.
  r.producer_map_bytes = page_ + 2 * bytes;
  void* p = mmap(nullptr, r.producer_map_bytes, PROT_READ, MAP_SHARED, fd, page_);
  if (p == MAP_FAILED) {
    munmap(c, page_);
    return Error{std::string("mapping a ring buffer: ") + std::strerror(errno)};
  }
  r.producer = static_cast<const uint64_t*>(p);
  r.data = static_cast<const uint8_t*>(p) + page_;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = static_cast<uint32_t>(rings_.size());
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    munmap(c, page_);
    munmap(p, r.producer_map_bytes);
    return Error{std::string("watching a ring buffer: ") + std::strerror(errno)};
  }
  rings_.push_back(r);
  return Status::Ok();
}

void MergedRingReader::AddMapped(uint64_t* consumer, const uint64_t* producer, const uint8_t* data,
                                 uint64_t bytes) {
  Ring r;
  r.mask = bytes - 1;
  r.consumer = consumer;
  r.producer = producer;
  r.data = data;
  rings_.push_back(r);
}

bool MergedRingReader::Head(Ring& r, const uint8_t** data, uint32_t* len, uint64_t* advance) {
  uint64_t cons = LoadAcquire(r.consumer);
  const uint64_t prod = LoadAcquire(r.producer);
  while (cons < prod) {
    const auto* hdr = reinterpret_cast<const uint32_t*>(r.data + (cons & r.mask));
    const uint32_t word = LoadAcquire(hdr);
    if (word & BPF_RINGBUF_BUSY_BIT) return false;  // reserved, not yet committed
    const uint32_t n = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    const uint64_t step = (static_cast<uint64_t>(n) + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t{7};
    if (word & BPF_RINGBUF_DISCARD_BIT) {
      cons += step;
      StoreRelease(r.consumer, cons);
      continue;
    }
    *data = reinterpret_cast<const uint8_t*>(hdr) + BPF_RINGBUF_HDR_SZ;
    *len = n;
    *advance = cons + step;
    return true;
  }
  return false;
}

int MergedRingReader::Poll(int timeout_ms, size_t ts_offset, const Handler& handler) {
  if (rings_.empty()) return 0;
  if (timeout_ms != 0 && epoll_fd_ >= 0) {
    epoll_event evs[16];
    (void)epoll_wait(epoll_fd_, evs, 16, timeout_ms);  // EINTR: consume what is there
  }
  // Merged only up to a watermark a little behind now (not when draining, timeout 0): each ring
  // is checked at its own moment, so a ring found empty may receive, a moment later, an event
  // older than those another ring already handed out. Two threads that read one socket in turn
  // on two CPUs then had their reads parsed out of order: HTTP/2 frames and HPACK state torn
  // (python3-grpcio's client lost most responses of a run). An event is committed within
  // microseconds of its timestamp, so nothing older than the watermark can still turn up.
  const uint64_t now_ns = MonotonicNs();  // the clock of bpf_ktime_get_ns()
  const uint64_t watermark = timeout_ms == 0 ? UINT64_MAX : now_ns - kOrderSlackNs;
  std::vector<HeadOf>& heads = heads_;
  heads.resize(rings_.size());
  auto load = [&](size_t i) {
    HeadOf& h = heads[i];
    h.valid = Head(rings_[i], &h.data, &h.len, &h.advance);
    h.ts = 0;
    if (h.valid && h.len >= ts_offset + sizeof(uint64_t)) {
      std::memcpy(&h.ts, h.data + ts_offset, sizeof(h.ts));
    }
  };
  for (size_t i = 0; i < rings_.size(); ++i) load(i);
  int handed = 0;
  for (;;) {
    size_t best = rings_.size();
    for (size_t i = 0; i < rings_.size(); ++i) {
      if (heads[i].valid && (best == rings_.size() || heads[i].ts < heads[best].ts)) best = i;
    }
    if (best == rings_.size()) break;
    if (heads[best].ts > watermark) {
      // Only recent events are left: their rings keep epoll ready, so wait for them to pass
      // the watermark here rather than spin through empty polls.
      if (handed == 0) {
        const uint64_t due = heads[best].ts - watermark;
        timespec pause{0, static_cast<long>(std::min<uint64_t>(due, kOrderSlackNs))};
        nanosleep(&pause, nullptr);
      }
      break;
    }
    handler(heads[best].data, heads[best].len);
    ++handed;
    StoreRelease(rings_[best].consumer, heads[best].advance);
    load(best);
  }
  return handed;
}

}  // namespace zerotrace
