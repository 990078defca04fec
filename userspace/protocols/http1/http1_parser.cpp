#include "protocols/http1/http1_parser.h"

#include <algorithm>
#include <array>

#include "core/hex.h"
#include "protocols/common/record_labels.h"
#include "protocols/common/text_util.h"

namespace zerotrace::protocols {
namespace {

constexpr size_t kMaxChunkLine = 1024;
constexpr size_t kMaxTrailerBytes = 4096;

constexpr std::array<std::string_view, 9> kMethods = {
    "GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "PATCH ", "OPTIONS ", "CONNECT ", "TRACE "};

// Framing facts gathered from a header block.
struct Framing {
  bool has_length = false;
  uint64_t length = 0;
  bool chunked = false;
  bool te_other = false;  // a transfer-coding other than a final "chunked"
};

// Calls fn(name, value) for each header line after the start line. False on a malformed line.
template <typename Fn>
bool ForEachHeader(std::string_view lines, Fn&& fn) {
  while (!lines.empty()) {
    const size_t nl = lines.find('\n');
    if (nl == std::string_view::npos || nl == 0 || lines[nl - 1] != '\r') return false;
    const std::string_view line = lines.substr(0, nl - 1);
    lines.remove_prefix(nl + 1);
    if (line.empty()) break;                          // end of the block
    if (line[0] == ' ' || line[0] == '\t') continue;  // obsolete line folding: ignore
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view name = line.substr(0, colon);
    if (name.back() == ' ' || name.back() == '\t') return false;  // RFC 9112 §5.1
    fn(name, TrimOws(line.substr(colon + 1)));
  }
  return true;
}

bool ApplyFraming(std::string_view name, std::string_view value, Framing* f) {
  if (name.size() == 14 && EqualsIgnoreCase(name, "content-length")) {
    uint64_t v = 0;
    if (!ParseDecimal(value, &v)) return false;
    if (f->has_length && f->length != v) return false;  // request smuggling shape: reject
    f->has_length = true;
    f->length = v;
  } else if (name.size() == 17 && EqualsIgnoreCase(name, "transfer-encoding")) {
    // The last coding decides; "gzip, chunked" is chunked.
    const size_t comma = value.rfind(',');
    const std::string_view last =
        TrimOws(comma == std::string_view::npos ? value : value.substr(comma + 1));
    if (EqualsIgnoreCase(last, "chunked")) {
      f->chunked = true;
      f->te_other = false;
    } else {
      f->te_other = true;
      f->chunked = false;
    }
  }
  return true;
}

bool IsVersion(std::string_view v) { return v == "HTTP/1.1" || v == "HTTP/1.0"; }

}  // namespace

bool LooksLikeHttp1Request(std::string_view data) {
  for (std::string_view m : kMethods) {
    if (data.size() > m.size() && data.substr(0, m.size()) == m) {
      const char c = data[m.size()];
      return c != ' ' && c != '\r' && c != '\n';
    }
  }
  return false;
}

bool LooksLikeHttp1Response(std::string_view data) {
  return data.size() >= 12 && data.substr(0, 7) == "HTTP/1." &&
         (data[7] == '0' || data[7] == '1') && data[8] == ' ' && data[9] >= '1' && data[9] <= '5' &&
         data[10] >= '0' && data[10] <= '9' && data[11] >= '0' && data[11] <= '9';
}

Http1Parser::Http1Parser(const Options& options) : options_(options) {
  options_.max_pending = std::max<size_t>(options_.max_pending, 1);
  pending_.resize(std::min<size_t>(4, options_.max_pending));
}

Http1Parser::Pending* Http1Parser::PushPending() {
  if (pending_count_ == pending_.size()) {
    if (pending_.size() >= options_.max_pending) return nullptr;
    // Grow (rare): re-linearize the ring into a larger vector.
    std::vector<Pending> bigger(std::min(pending_.size() * 2, options_.max_pending));
    for (size_t i = 0; i < pending_count_; ++i) bigger[i] = std::move(PendingAt(i));
    pending_ = std::move(bigger);
    pending_head_ = 0;
  }
  Pending& p = PendingAt(pending_count_);
  ++pending_count_;
  p.record.Clear();
  p.seq = next_seq_++;
  p.is_head = false;
  p.complete = false;
  p.ok = true;
  p.why = LossReason::kUnparsable;
  p.dropped_after = 0;
  p.upgrade_h2c = false;
  return &p;
}

void Http1Parser::PopPending() {
  if (pending_count_ == 0) return;
  skip_responses_ += PendingAt(0).dropped_after;
  pending_head_ = (pending_head_ + 1) % pending_.size();
  --pending_count_;
}

void Http1Parser::Feed(bool from_client, uint64_t ts_ns, std::span<const uint8_t> captured,
                       uint64_t size, RecordSink& sink) {
  if (size < captured.size()) size = captured.size();
  counters_.bytes_parsed += size;
  counters_.bytes_skipped += size - captured.size();
  if (upgraded_) return;
  FeedSide(from_client, ts_ns, captured, size, sink);
}

void Http1Parser::FeedSide(bool from_client, uint64_t ts, std::span<const uint8_t> captured,
                           uint64_t size, RecordSink& sink) {
  Side& s = from_client ? req_ : resp_;
  const std::string_view data = AsStringView(captured);
  uint64_t gap = size - data.size();
  size_t pos = 0;

  if (s.state == State::kDesync) {
    // Messages usually start at a read/write boundary: resync only there.
    if (from_client ? !LooksLikeHttp1Request(data) : !LooksLikeHttp1Response(data)) return;
    s.state = State::kIdle;
    if (!from_client) {
      // Responses were lost; the newest request is the likeliest to own this response.
      while (pending_count_ > 1) {
        CountLost(LossReason::kCaptureGap, sink);
        PopPending();
      }
      skip_responses_ = 0;  // the response found here is the newest request's
    }
  }

  while (!upgraded_ && (pos < data.size() || gap > 0)) {
    switch (s.state) {
      case State::kIdle: {
        while (pos < data.size() && (data[pos] == '\r' || data[pos] == '\n')) ++pos;
        if (pos == data.size()) {
          if (gap > 0) {
            // A whole message start went uncaptured.
            LoseSync(from_client, s, ts, LossReason::kCaptureGap, sink);
            return;
          }
          return;
        }
        s.state = State::kHeaders;
        s.msg_bytes = 0;
        s.first_ts = ts;
        s.bound = false;
        s.buf.clear();
        break;
      }
      case State::kHeaders: {
        std::string_view block;
        size_t used = 0;
        if (s.buf.empty()) {
          const size_t e = FindHeaderEnd(data, pos);
          if (e != std::string_view::npos && e + 4 - pos <= options_.max_header_bytes) {
            block = data.substr(pos, e + 4 - pos);
            used = block.size();
          }
        }
        if (block.empty()) {
          const size_t old = s.buf.size();
          const size_t room = options_.max_header_bytes - old;
          const size_t take = std::min(room, data.size() - pos);
          s.buf.append(data.substr(pos, take));
          const size_t e = FindHeaderEnd(s.buf, old >= 3 ? old - 3 : 0);
          if (e == std::string::npos) {
            if (take < data.size() - pos || s.buf.size() >= options_.max_header_bytes) {
              // Header block larger than the cap: give up on this message.
              LoseSync(from_client, s, ts, LossReason::kUnparsable, sink);
              return;
            }
            pos += take;
            s.msg_bytes += take;
            s.last_ts = ts;
            if (gap > 0) {
              LoseSync(from_client, s, ts, LossReason::kCaptureGap, sink);
              return;
            }
            break;
          }
          block = std::string_view(s.buf).substr(0, e + 4);
          used = e + 4 - old;
        }
        pos += used;
        s.msg_bytes += used;
        s.last_ts = ts;
        const bool ok =
            from_client ? OnRequestHeaders(s, block) : OnResponseHeaders(s, block, ts, sink);
        s.buf.clear();
        if (!ok) {
          LoseSync(from_client, s, ts, LossReason::kUnparsable, sink);
          return;
        }
        if (upgraded_) return;
        if (s.interim) {
          s.interim = false;  // nothing to complete: the final response follows
        } else if (s.state == State::kIdle) {
          OnMessageComplete(from_client, s, ts, sink);
        }
        break;
      }
      case State::kBody:
      case State::kChunkData:
      case State::kUntilClose: {
        const uint64_t avail = pos < data.size() ? data.size() - pos : gap;
        const uint64_t take = s.state == State::kUntilClose ? avail : std::min(s.remaining, avail);
        if (pos < data.size()) {
          pos += take;
        } else {
          gap -= take;
        }
        s.msg_bytes += take;
        if (take > 0) s.last_ts = ts;
        if (s.state == State::kUntilClose) break;
        s.remaining -= take;
        if (s.remaining == 0) {
          if (s.state == State::kBody) {
            s.state = State::kIdle;
            OnMessageComplete(from_client, s, ts, sink);
          } else {
            s.state = State::kChunkCrlf;
            s.remaining = 2;
          }
        }
        break;
      }
      case State::kChunkCrlf: {
        if (pos < data.size()) {
          const char c = data[pos];
          const bool expected = s.remaining == 2 ? c == '\r' : c == '\n';
          if (!expected) {
            LoseSync(from_client, s, ts, LossReason::kUnparsable, sink);
            return;
          }
          ++pos;
        } else {
          --gap;
        }
        ++s.msg_bytes;
        if (--s.remaining == 0) {
          s.state = State::kChunkSize;
          s.buf.clear();
        }
        break;
      }
      case State::kChunkSize: {
        if (pos == data.size()) {
          LoseSync(from_client, s, ts, LossReason::kCaptureGap,
                   sink);  // chunk framing went uncaptured
          return;
        }
        const size_t eol = data.find('\n', pos);
        const size_t end = eol == std::string_view::npos ? data.size() : eol + 1;
        if (s.buf.size() + (end - pos) > kMaxChunkLine) {
          LoseSync(from_client, s, ts, LossReason::kUnparsable, sink);
          return;
        }
        s.buf.append(data.substr(pos, end - pos));
        s.msg_bytes += end - pos;
        s.last_ts = ts;
        pos = end;
        if (eol == std::string_view::npos) break;
        std::string_view line(s.buf);
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const size_t semi = line.find(';');  // chunk extensions are ignored
        if (semi != std::string_view::npos) line = line.substr(0, semi);
        uint64_t chunk = 0;
        if (!ParseHex(TrimOws(line), &chunk, /*max_digits=*/15)) {
          LoseSync(from_client, s, ts, LossReason::kUnparsable, sink);
          return;
        }
        s.buf.clear();
        if (chunk == 0) {
          s.state = State::kTrailers;
        } else {
          s.state = State::kChunkData;
          s.remaining = chunk;
        }
        break;
      }
      case State::kTrailers: {
        if (pos == data.size()) {
          LoseSync(from_client, s, ts, LossReason::kCaptureGap, sink);
          return;
        }
        const size_t old = s.buf.size();
        const size_t take = std::min(kMaxTrailerBytes - old, data.size() - pos);
        s.buf.append(data.substr(pos, take));
        size_t end = std::string::npos;
        if (s.buf.size() >= 2 && s.buf[0] == '\r' && s.buf[1] == '\n') {
          end = 2;  // no trailers
        } else {
          const size_t e = s.buf.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
          if (e != std::string::npos) end = e + 4;
        }
        if (end == std::string::npos) {
          if (s.buf.size() >= kMaxTrailerBytes) {
            LoseSync(from_client, s, ts, LossReason::kUnparsable, sink);
            return;
          }
          pos += take;
          s.msg_bytes += take;
          break;
        }
        pos += end - old;
        s.msg_bytes += end - old;
        s.last_ts = ts;
        s.buf.clear();
        s.state = State::kIdle;
        OnMessageComplete(from_client, s, ts, sink);
        break;
      }
      case State::kDesync:
        return;
    }
  }
}

bool Http1Parser::OnRequestHeaders(Side& s, std::string_view block) {
  const size_t eol = block.find("\r\n");
  const std::string_view line = block.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp2 <= sp1 + 1) return false;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsVersion(version) || target.find(' ') != std::string_view::npos) return false;
  for (char c : method) {
    if (c < 'A' || c > 'Z') return false;
  }

  Framing framing;
  Pending* p = PushPending();
  if (p == nullptr) {
    ++counters_.dropped_pending;
    // Its response will come in order: remember where, so it is not paired with a later request.
    if (pending_count_ > 0) {
      ++PendingAt(pending_count_ - 1).dropped_after;
    } else {
      ++skip_responses_;
    }
  }
  RequestRecord* r = p ? &p->record : nullptr;
  bool framing_ok = true;
  const bool headers_ok = ForEachHeader(block.substr(eol + 2), [&](auto name, auto value) {
    framing_ok &= ApplyFraming(name, value, &framing);
    if (r == nullptr) return;
    switch (name.size()) {
      case 4:
        if (EqualsIgnoreCase(name, "host")) r->host.assign(value);
        break;
      case 7:
        if (EqualsIgnoreCase(name, "upgrade") && EqualsIgnoreCase(TrimOws(value), "h2c")) {
          p->upgrade_h2c = true;
        }
        break;
      case 10:
        if (EqualsIgnoreCase(name, "tracestate")) r->tracestate.assign(value);
        break;
      case 11:
        if (EqualsIgnoreCase(name, "traceparent")) r->traceparent.assign(value);
        break;
      default:
        break;
    }
  });
  if (!headers_ok || !framing_ok || framing.te_other) {
    if (p != nullptr) {
      // The message cannot be delimited; forget it so it is not paired with a response.
      pending_count_--;
      next_seq_--;
    }
    return false;
  }
  if (r != nullptr) {
    r->method.assign(method);
    std::string_view path = target;
    if (path.starts_with("http://") || path.starts_with("https://")) {
      const size_t authority = path.find("//") + 2;
      const size_t slash = path.find('/', authority);
      if (r->host.empty()) {
        r->host.assign(StripQuery(path.substr(authority, slash - authority)));
      }
      path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
    r->path.assign(StripQuery(path));
    r->version.assign(version);
    r->start_ns = s.first_ts;
    p->is_head = method == "HEAD";
    s.msg_seq = p->seq;
  } else {
    s.msg_seq = 0;
  }
  if (framing.chunked) {
    s.state = State::kChunkSize;
    s.buf.clear();
  } else if (framing.has_length && framing.length > 0) {
    s.state = State::kBody;
    s.remaining = framing.length;
  } else {
    s.state = State::kIdle;  // requests without framing have no body
  }
  return true;
}

bool Http1Parser::OnResponseHeaders(Side& s, std::string_view block, uint64_t ts,
                                    RecordSink& sink) {
  const size_t eol = block.find("\r\n");
  const std::string_view line = block.substr(0, eol);
  if (line.size() < 12 || !IsVersion(line.substr(0, 8)) || line[8] != ' ') return false;
  uint64_t status = 0;
  if (!ParseDecimal(line.substr(9, 3), &status) || status < 100 || status > 599) return false;
  if (line.size() > 12 && line[12] != ' ') return false;

  Framing framing;
  bool framing_ok = true;
  if (!ForEachHeader(
          block.substr(eol + 2),
          [&](auto name, auto value) { framing_ok &= ApplyFraming(name, value, &framing); }) ||
      !framing_ok) {
    return false;
  }

  resp_status_ = static_cast<int>(status);
  if (status >= 100 && status < 200 && status != 101) {
    // Interim response (100 Continue, 103 Early Hints): the final one is still to come.
    if (pending_count_ > 0) PendingAt(0).record.response_bytes += s.msg_bytes;
    s.msg_bytes = 0;
    s.state = State::kIdle;
    s.bound = false;
    s.interim = true;
    return true;
  }
  s.bound = pending_count_ > 0 && skip_responses_ == 0;
  const bool head = s.bound && PendingAt(0).is_head;
  if (status == 101) {
    // Switching protocols: what follows is not HTTP/1; stop here.
    if (s.bound) {
      Pending& front = PendingAt(0);
      front.record.response_bytes += s.msg_bytes;
      front.record.status_code = resp_status_;
      if (front.upgrade_h2c) {
        // The exchange goes on over HTTP/2: its response is stream 1's, not this 101.
        h2c_upgrade_ = front.record;
        PopPending();
      } else {
        EmitFront(ts, true, sink);
      }
    }
    upgraded_ = true;
    s.bound = false;
    s.state = State::kIdle;
    s.msg_bytes = 0;
    return true;
  }
  if (head || status == 204 || status == 304) {
    s.state = State::kIdle;
  } else if (framing.chunked) {
    s.state = State::kChunkSize;
    s.buf.clear();
  } else if (framing.has_length) {
    s.state = framing.length > 0 ? State::kBody : State::kIdle;
    s.remaining = framing.length;
  } else {
    s.state = State::kUntilClose;
  }
  return true;
}

void Http1Parser::OnMessageComplete(bool from_client, Side& s, uint64_t ts, RecordSink& sink) {
  s.state = State::kIdle;
  if (from_client) {
    for (size_t i = pending_count_; i-- > 0;) {
      Pending& p = PendingAt(i);
      if (p.seq == s.msg_seq) {
        p.record.request_bytes = s.msg_bytes;
        p.complete = true;
        break;
      }
    }
    s.msg_bytes = 0;
    return;
  }
  if (s.bound) {
    Pending& front = PendingAt(0);
    front.record.response_bytes += s.msg_bytes;
    front.record.status_code = resp_status_;
    EmitFront(ts, true, sink);
  } else {
    // A response we cannot pair with a request: its request was dropped from a full queue, or
    // went by unseen.
    CountLost(skip_responses_ > 0 ? LossReason::kQueueLimit : LossReason::kCaptureGap, sink);
    if (skip_responses_ > 0) --skip_responses_;
  }
  s.bound = false;
  s.msg_bytes = 0;
}

void Http1Parser::EmitFront(uint64_t end_ts, bool ok, RecordSink& sink) {
  Pending& front = PendingAt(0);
  RequestRecord& r = front.record;
  r.protocol = Protocol::kHttp1;
  r.role = options_.role;
  r.end_ns = end_ts;
  r.parsed_ok = ok && front.ok;
  r.lost_reason = front.why;
  FinalizeLabels(r, options_.templater);
  if (r.parsed_ok) {
    ++counters_.http1_requests;
  } else {
    ++counters_.http1_unparsed;  // the record carries the loss
  }
  sink.OnRecord(r);
  PopPending();
}

void Http1Parser::CountLost(LossReason reason, RecordSink& sink) {
  ++counters_.http1_unparsed;
  sink.OnLost(Protocol::kHttp1, reason, 1);
}

void Http1Parser::LoseSync(bool from_client, Side& s, uint64_t ts, LossReason reason,
                           RecordSink& sink) {
  ++counters_.sync_lost;
  if (from_client) {
    bool found = false;
    if (s.state != State::kIdle) {
      for (size_t i = 0; i < pending_count_; ++i) {
        Pending& p = PendingAt(i);
        if (p.seq == s.msg_seq && !p.complete) {
          p.ok = false;  // its response may still arrive; the record will say unparsed
          p.why = reason;
          found = true;
        }
      }
    }
    if (!found) {
      // A request we could not read: keep a placeholder so that its response pairs with it
      // (one unparsed record) instead of with the next request (a wrong record).
      Pending* p = PushPending();
      if (p != nullptr) {
        p->ok = false;
        p->why = reason;
        p->complete = true;
        p->record.start_ns = s.state == State::kIdle ? ts : s.first_ts;
      } else {
        ++counters_.dropped_pending;
        CountLost(LossReason::kQueueLimit, sink);
      }
    }
  } else if (pending_count_ > 0 && s.state != State::kIdle) {
    // The response for the oldest request is lost.
    CountLost(reason, sink);
    PopPending();
  }
  s.state = State::kDesync;
  s.buf.clear();
  s.bound = false;
  s.msg_bytes = 0;
}

void Http1Parser::Close(uint64_t ts_ns, RecordSink& sink) {
  (void)ts_ns;
  if (resp_.state == State::kUntilClose && resp_.bound && pending_count_ > 0) {
    Pending& front = PendingAt(0);
    front.record.response_bytes += resp_.msg_bytes;
    front.record.status_code = resp_status_;
    EmitFront(resp_.last_ts, true, sink);
  }
  while (pending_count_ > 0) {
    CountLost(LossReason::kConnectionClosed, sink);
    PopPending();
  }
  resp_.state = State::kIdle;
  req_.state = State::kIdle;
}

}  // namespace zerotrace::protocols
