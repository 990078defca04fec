#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "sockets.h"

namespace zerotrace {

// Puts one TCP connection's reads after the writes they answer.
//
// Events reach the collector in timestamp order, and a write's event is made when the write
// returns, after its bytes reached the peer: a reply read by another thread on another CPU (a
// Go client writes from one goroutine and reads in another) can carry an earlier timestamp than
// the request that caused it. Parsed in that order, the reply answers nothing and the request
// waits for a reply that already went by: one request lost and one wrongly paired.
//
// The kernel tags each event with the socket's write_seq (SOCK_EV_SND_SEQ): for a read, every
// byte the socket had queued to send when the read returned. A read whose write_seq is past the
// writes parsed so far answers bytes whose write event is still to come, so it is held (with
// the reads after it) until a write covers it. A write that never comes (events lost to a full
// ring, data sent by sendfile) releases the hold at the next write that starts past the read,
// after kMaxHoldNs in event time, at the bounds below, or when the connection closes.
class SendOrder {
 public:
  using Feed = std::function<void(const sock_event_header&, const uint8_t*)>;
  static constexpr uint64_t kMaxHoldNs = 200'000'000ull;
  static constexpr size_t kMaxHeldEvents = 64;
  static constexpr size_t kMaxHeldBytes = 1 << 20;

  struct Counters {
    uint64_t reordered = 0;   // reads held, then parsed after the write they answered
    uint64_t expired = 0;     // reads held kMaxHoldNs without that write: parsed as they came
    uint64_t overflowed = 0;  // reads released because the bounds were reached
  };

  // The connection's write_seq at its handshake (an OPEN event with SOCK_EV_SND_SEQ).
  void OnOpen(const sock_event_header& h);
  // One DATA event (SEGMENT events included) in arrival order: calls `feed` for each event to
  // parse now, in the order to parse them (none when it is held). `may_hold`: the connection's
  // reads carry replies (this side is the client). A server's request read before the write of
  // the previous response is parsed at once: the parsers pair in order anyway, and a request
  // start must not wait (the calls made while serving it look for it; spans).
  void Route(const sock_event_header& h, const uint8_t* data, bool may_hold, const Feed& feed);
  // Parses the held reads whose hold began at or before `now_ns - kMaxHoldNs`.
  void Expire(uint64_t now_ns, const Feed& feed);
  // Parses every held read (the connection ends).
  void Flush(const Feed& feed);
  // Parses every held read, counted as overflowed (the collector's bound on held bytes).
  void Overflow(const Feed& feed);

  bool holding() const { return !held_.empty(); }
  uint64_t held_since() const { return held_.empty() ? 0 : held_.front().h.ts; }
  size_t held_bytes() const { return held_bytes_; }
  const Counters& counters() const { return counters_; }

 private:
  struct Held {
    sock_event_header h;
    std::vector<uint8_t> data;
  };
  // Releases held reads from the front while `ready(read's snd_seq)` holds for the first one.
  template <typename Ready>
  void ReleaseWhile(const Ready& ready, const Feed& feed, uint64_t* counter);
  void Hold(const sock_event_header& h, const uint8_t* data);
  void FeedFront(const Feed& feed);
  // Every event parsed goes through here.
  void Pass(const sock_event_header& h, const uint8_t* data, const Feed& feed);

  bool sent_known_ = false;
  uint32_t sent_ = 0;    // write_seq at the end of the writes parsed so far
  uint64_t fed_ts_ = 0;  // the latest timestamp parsed
  std::deque<Held> held_;
  size_t held_bytes_ = 0;
  Counters counters_;
};

}  // namespace zerotrace
