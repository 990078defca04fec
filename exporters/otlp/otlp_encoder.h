#pragma once

#include <span>
#include <string>
#include <string_view>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "tracing/span.h"

namespace zerotrace::otlp {

using ExportTraceServiceRequest =
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

struct EncodeOptions {
  std::string scope_name = "zerotrace";
  std::string scope_version = "0.1.0";
  // service.name for spans whose resource has none (e.g. from OTEL_SERVICE_NAME); may be empty.
  std::string default_service_name;
};

// Attribute keys never exported (case-insensitive): anything containing "authorization" or
// "cookie" (so set-cookie and http.request.header.* forms too), and url.query.
bool IsSecretAttributeKey(std::string_view key);

// Groups spans by resource (span.resource, or `default_resource` when null) into one
// ResourceSpans each, with a single ScopeSpans. Applies the secret filter to span and resource
// attributes, strips query strings/fragments from url.full, url.path, http.target, http.url,
// and replaces invalid UTF-8 in strings with U+FFFD (receivers reject invalid UTF-8).
ExportTraceServiceRequest BuildExportRequest(std::span<const tracing::Span> spans,
                                             const tracing::Resource& default_resource,
                                             const EncodeOptions& options = {});

// OTLP/JSON (protobuf JSON mapping with the OTLP exceptions): lowerCamelCase names, trace and
// span ids as lowercase hex, enums as integers, 64-bit integers as strings, default values
// omitted. One line, no trailing newline.
std::string ToOtlpJson(const ExportTraceServiceRequest& request);

}  // namespace zerotrace::otlp
