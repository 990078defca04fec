#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tracing/span.h"

namespace zerotrace::otlp::testing {

// A server span carrying every attribute type, a secret header and a URL with a query.
inline tracing::Span MakeRichSpan() {
  tracing::Span s;
  s.trace_id = *tracing::TraceIdFromHex("4bf92f3577b34da6a3ce929d0e0e4736");
  s.span_id = *tracing::SpanIdFromHex("00f067aa0ba902b7");
  s.parent_span_id = *tracing::SpanIdFromHex("b7ad6b7169203331");
  s.trace_state = "congo=t61rcWkgMzE";
  s.trace_flags = 1;
  s.name = "GET /users/{id}";
  s.kind = tracing::SpanKind::kServer;
  s.start_unix_ns = 1'700'000'000'123'456'789ULL;
  s.end_unix_ns = 1'700'000'000'223'456'789ULL;
  s.status = {tracing::StatusCode::kError, "upstream timeout"};
  s.attributes.Set("http.request.method", "GET");
  s.attributes.Set("http.response.status_code", int64_t{503});
  s.attributes.Set("net.ok", false);
  s.attributes.Set("ratio", 0.25);
  s.attributes.Set("http.request.header.accept", std::vector<std::string>{"a/b", "c/d"});
  s.attributes.Set("url.path", "/users/42?token=secret");
  s.attributes.Set("http.request.header.authorization", "Bearer xyz");
  s.attributes.Set("Cookie", "session=1");
  s.attributes.Set("http.response.header.set-cookie", "a=b");
  s.attributes.Set("big", int64_t{-9'007'199'254'740'993});  // beyond double precision
  return s;
}

inline std::shared_ptr<const tracing::Resource> MakeResource(const std::string& service,
                                                             int64_t pid) {
  auto r = std::make_shared<tracing::Resource>(
      tracing::Resource::ForProcess(service, "node-1", pid, "server"));
  r->SetK8s("pod.name", service + "-pod");
  return r;
}

inline tracing::Span MakeSimpleSpan(int i) {
  tracing::Span s;
  s.trace_id = tracing::TraceId{};
  s.trace_id[15] = static_cast<uint8_t>(i + 1);
  s.trace_id[0] = 0xab;
  s.span_id = tracing::SpanId{};
  s.span_id[7] = static_cast<uint8_t>(i + 1);
  s.span_id[0] = 0xcd;
  s.name = "span-" + std::to_string(i);
  s.kind = tracing::SpanKind::kClient;
  s.start_unix_ns = 1'000 + i;
  s.end_unix_ns = 2'000 + i;
  s.attributes.Set("index", int64_t{i});
  return s;
}

}  // namespace zerotrace::otlp::testing
