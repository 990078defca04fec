#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tracing/span.h"

namespace zerotrace::tracing {

// The propagated part of a span (W3C Trace Context).
struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  uint8_t trace_flags = 0;
  std::string trace_state;

  bool IsValid() const { return tracing::IsValid(trace_id) && tracing::IsValid(span_id); }
  bool sampled() const { return (trace_flags & kTraceFlagSampled) != 0; }
  bool operator==(const SpanContext&) const = default;
};

// Upper bounds kept for a tracestate value; longer values lose whole members from the end.
inline constexpr size_t kMaxTraceStateLength = 512;
inline constexpr size_t kMaxTraceStateMembers = 32;

// Parses a `traceparent` header value ("00-<32 hex>-<16 hex>-<2 hex>"), W3C level 1 rules:
// lowercase hex only; version ff is invalid; version 00 must be exactly 55 chars; a higher
// version may carry extra "-..." fields, which are ignored; all-zero trace or span ids are
// invalid. Surrounding spaces/tabs are tolerated. `tracestate` goes through SanitizeTraceState.
std::optional<SpanContext> ParseTraceParent(std::string_view traceparent,
                                            std::string_view tracestate = {});

// "00-<trace id>-<span id>-<flags>" (always version 00).
std::string FormatTraceParent(const SpanContext& context);

// Trims optional whitespace, drops empty list members, keeps at most kMaxTraceStateMembers
// members and at most kMaxTraceStateLength characters (whole members dropped from the end).
std::string SanitizeTraceState(std::string_view tracestate);

}  // namespace zerotrace::tracing
