#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace zerotrace {

// Parses 1..max_digits hex digits (either case, no prefix, no sign, nothing else) into *out.
// Bounding the digits bounds the value: HTTP/1 chunk sizes allow 15 (no overflow in sums), an
// address 16.
inline bool ParseHex(std::string_view digits, uint64_t* out, size_t max_digits = 16) {
  if (digits.empty() || digits.size() > max_digits || max_digits > 16) return false;
  uint64_t v = 0;
  for (char c : digits) {
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint64_t>(c - 'A' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *out = v;
  return true;
}

}  // namespace zerotrace
