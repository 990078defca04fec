#include "tracing/trace_context.h"

#include <vector>

namespace zerotrace::tracing {
namespace {

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<uint8_t> ParseHexByte(std::string_view two) {
  int hi = LowerHexValue(two[0]);
  int lo = LowerHexValue(two[1]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>((hi << 4) | lo);
}

}  // namespace

std::optional<SpanContext> ParseTraceParent(std::string_view traceparent,
                                            std::string_view tracestate) {
  constexpr size_t kV0Length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
  std::string_view s = TrimOws(traceparent);
  if (s.size() < kV0Length) return std::nullopt;
  if (s[2] != '-' || s[35] != '-' || s[52] != '-') return std::nullopt;
  auto version = ParseHexByte(s.substr(0, 2));
  if (!version || *version == 0xff) return std::nullopt;
  if (*version == 0x00) {
    if (s.size() != kV0Length) return std::nullopt;
  } else if (s.size() > kV0Length && s[kV0Length] != '-') {
    return std::nullopt;  // future versions: extra fields must be '-' separated
  }
  auto trace_id = TraceIdFromHex(s.substr(3, 32));
  auto span_id = SpanIdFromHex(s.substr(36, 16));
  auto flags = ParseHexByte(s.substr(53, 2));
  if (!trace_id || !span_id || !flags) return std::nullopt;
  SpanContext ctx{*trace_id, *span_id, *flags, SanitizeTraceState(tracestate)};
  if (!ctx.IsValid()) return std::nullopt;
  return ctx;
}

std::string FormatTraceParent(const SpanContext& context) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "00-" + ToHex(context.trace_id) + "-" + ToHex(context.span_id) + "-";
  out.push_back(kHex[context.trace_flags >> 4]);
  out.push_back(kHex[context.trace_flags & 0xf]);
  return out;
}

std::string SanitizeTraceState(std::string_view tracestate) {
  std::vector<std::string_view> members;
  while (!tracestate.empty() && members.size() < kMaxTraceStateMembers) {
    size_t comma = tracestate.find(',');
    std::string_view member = TrimOws(tracestate.substr(0, comma));
    if (!member.empty()) members.push_back(member);
    if (comma == std::string_view::npos) break;
    tracestate.remove_prefix(comma + 1);
  }
  std::string out;
  for (std::string_view member : members) {
    size_t extra = out.empty() ? member.size() : member.size() + 1;
    if (out.size() + extra > kMaxTraceStateLength) break;
    if (!out.empty()) out.push_back(',');
    out.append(member);
  }
  return out;
}

}  // namespace zerotrace::tracing
