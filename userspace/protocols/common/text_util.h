#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace zerotrace::protocols {

inline std::string_view AsStringView(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// `lower` must already be lower case.
inline bool EqualsIgnoreCase(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (AsciiLower(s[i]) != lower[i]) return false;
  }
  return true;
}

inline bool StartsWithIgnoreCase(std::string_view s, std::string_view lower) {
  return s.size() >= lower.size() && EqualsIgnoreCase(s.substr(0, lower.size()), lower);
}

inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Position of the "\r\n\r\n" that ends a header block, searching from `from`; npos if absent.
// Scans for '\n' (one per line) instead of '\r' + compare, which is what find() would do.
inline size_t FindHeaderEnd(std::string_view s, size_t from) {
  while (from + 4 <= s.size()) {
    const void* hit = std::memchr(s.data() + from + 3, '\n', s.size() - from - 3);
    if (hit == nullptr) return std::string_view::npos;
    const size_t nl = static_cast<size_t>(static_cast<const char*>(hit) - s.data());
    if (s[nl - 1] == '\r' && s[nl - 2] == '\n' && s[nl - 3] == '\r') return nl - 3;
    from = nl - 2;
  }
  return std::string_view::npos;
}

// Parses a non-negative decimal; false on empty input, junk, or overflow past 2^62.
inline bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

}  // namespace zerotrace::protocols
