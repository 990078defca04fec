#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace zerotrace {

// The one UTF-8 validator of the tree: label values, span attributes, log lines, pprof string
// tables and SVG text all come from bytes workloads control.

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when it is not one.
inline size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

// Replaces every byte that is not part of a well-formed UTF-8 sequence with U+FFFD. Label values
// and span attributes must be UTF-8: one bad byte in a label makes Prometheus reject the whole
// scrape, and OTLP receivers reject the batch.
inline void MakeValidUtf8(std::string* s) {
  size_t i = 0;
  while (i < s->size()) {
    const size_t n = Utf8SequenceLength(*s, i);
    if (n == 0) break;
    i += n;
  }
  if (i == s->size()) return;  // the common case: nothing to copy
  std::string out(*s, 0, i);
  while (i < s->size()) {
    const size_t n = Utf8SequenceLength(*s, i);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(*s, i, n);
      i += n;
    }
  }
  *s = std::move(out);
}

// Label values and the span attributes that mirror them come from workloads (an environment
// variable, a URL path, a gRPC service name): one of 100 KiB would be stored in every series and
// sent on every scrape. Longer values are cut to this many bytes.
inline constexpr size_t kMaxLabelValueBytes = 256;

// Makes `s` valid UTF-8 (MakeValidUtf8) and at most `max_bytes` long: a longer value is cut on a
// character boundary and ends in "…" (U+2026), so a cut value is never mistaken for a real one.
inline void BoundLabelValue(std::string* s, size_t max_bytes = kMaxLabelValueBytes) {
  MakeValidUtf8(s);
  if (s->size() <= max_bytes) return;
  static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
  const bool mark = max_bytes >= kEllipsis.size();
  size_t cut = mark ? max_bytes - kEllipsis.size() : max_bytes;
  while (cut > 0 && (static_cast<uint8_t>((*s)[cut]) & 0xC0) == 0x80) --cut;  // continuation
  s->resize(cut);
  if (mark) s->append(kEllipsis);
}

// A copy of `s` made valid as MakeValidUtf8 does.
inline std::string ToValidUtf8(std::string_view s) {
  std::string out(s);
  MakeValidUtf8(&out);
  return out;
}

}  // namespace zerotrace
