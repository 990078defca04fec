#include "aggregators/send_order.h"

namespace zerotrace {
namespace {

// How far write_seq `a` is past `b` (mod 2^32).
int64_t SeqAhead(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }

// A read that counts at most this many bytes more than the writes parsed is not waiting for
// one: a FIN takes one sequence number (a client that shut down its sending side and reads the
// reply), and no request is one byte. Past kImplausible the value is not a recent write_seq of
// this socket (a socket reused under a stale pointer): never held for.
constexpr int64_t kSlack = 1;
constexpr int64_t kImplausible = int64_t{1} << 30;

bool Ingress(const sock_event_header& h) { return h.direction == SOCK_DIR_INGRESS; }

}  // namespace

void SendOrder::OnOpen(const sock_event_header& h) {
  if (!(h.flags & SOCK_EV_SND_SEQ)) return;
  sent_ = h.snd_seq;
  sent_known_ = true;
}

void SendOrder::Hold(const sock_event_header& h, const uint8_t* data) {
  held_.push_back({h, std::vector<uint8_t>(data, data + h.captured)});
  held_bytes_ += h.captured;
}

template <typename Ready>
void SendOrder::ReleaseWhile(const Ready& ready, const Feed& feed, uint64_t* counter) {
  while (!held_.empty()) {
    Held& front = held_.front();
    // A held SEGMENT event belongs to the read before it, released with it.
    const bool segment = front.h.flags & SOCK_EV_SEGMENT;
    if (!segment && (front.h.flags & SOCK_EV_SND_SEQ) && !ready(front.h)) return;
    if (!segment && counter) ++*counter;
    FeedFront(feed);
  }
}

void SendOrder::FeedFront(const Feed& feed) {
  Held item = std::move(held_.front());
  held_.pop_front();
  held_bytes_ -= item.h.captured;
  // The writes this read counted are parsed or will never be: later reads are not held for them.
  if ((item.h.flags & SOCK_EV_SND_SEQ) && !(item.h.flags & SOCK_EV_SEGMENT) &&
      SeqAhead(item.h.snd_seq, sent_) > 0 && SeqAhead(item.h.snd_seq, sent_) < kImplausible) {
    sent_ = item.h.snd_seq;
  }
  // Parsed after events of the connection with later timestamps (the write it answered, or
  // one that came while it waited): moved up to theirs. An exchange cannot end before its
  // request was sent; how long the write went on after its bytes reached the peer is not
  // known, so such an exchange is timed short by that much rather than negative.
  if (item.h.ts < fed_ts_) item.h.ts = fed_ts_;
  Pass(item.h, item.data.data(), feed);
}

void SendOrder::Pass(const sock_event_header& h, const uint8_t* data, const Feed& feed) {
  if (h.ts > fed_ts_) fed_ts_ = h.ts;
  feed(h, data);
}

void SendOrder::Route(const sock_event_header& h, const uint8_t* data, bool may_hold,
                      const Feed& feed) {
  if (Ingress(h)) {
    if (!held_.empty()) {
      if (held_.size() >= kMaxHeldEvents || held_bytes_ + h.captured > kMaxHeldBytes) {
        // Parsed in their order: what was held, then this read.
        Overflow(feed);
        Pass(h, data, feed);
        return;
      }
      Hold(h, data);  // reads stay in their order
      return;
    }
    if (may_hold && (h.flags & SOCK_EV_SND_SEQ) && !(h.flags & SOCK_EV_SEGMENT) && sent_known_) {
      const int64_t ahead = SeqAhead(h.snd_seq, sent_);
      if (ahead > kSlack && ahead < kImplausible) {
        Hold(h, data);
        return;
      }
    }
    Pass(h, data, feed);
    return;
  }
  if (!(h.flags & SOCK_EV_SND_SEQ) || (h.flags & SOCK_EV_SEGMENT)) {
    Pass(h, data, feed);
    return;
  }
  // Reads made before this write began were not caused by it: they go first.
  const uint32_t start = h.snd_seq - static_cast<uint32_t>(h.size);
  ReleaseWhile([&](const sock_event_header& r) { return SeqAhead(r.snd_seq, start) <= kSlack; },
               feed, nullptr);
  Pass(h, data, feed);
  if (!sent_known_ || SeqAhead(h.snd_seq, sent_) > 0) sent_ = h.snd_seq;
  sent_known_ = true;
  ReleaseWhile([&](const sock_event_header& r) { return SeqAhead(r.snd_seq, sent_) <= kSlack; },
               feed, &counters_.reordered);
}

void SendOrder::Expire(uint64_t now_ns, const Feed& feed) {
  ReleaseWhile(
      [&](const sock_event_header& r) {
        return now_ns >= kMaxHoldNs && r.ts <= now_ns - kMaxHoldNs;
      },
      feed, &counters_.expired);
}

void SendOrder::Flush(const Feed& feed) {
  while (!held_.empty()) FeedFront(feed);
}

void SendOrder::Overflow(const Feed& feed) {
  counters_.overflowed += held_.size();
  Flush(feed);
}

}  // namespace zerotrace
