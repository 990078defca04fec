#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace zerotrace::otlp {

enum class OtlpEncoding { kProtobuf, kJson };  // application/x-protobuf | application/json
enum class OtlpCompression { kNone, kGzip };

// Returns the value of an environment variable, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
// The process environment (getenv).
EnvLookup ProcessEnvironment();

struct OtlpExporterOptions {
  // Base URL; "/v1/traces" is appended (OTEL_EXPORTER_OTLP_ENDPOINT), e.g. http://collector:4318
  std::string endpoint;
  // Full URL used as is; wins over `endpoint` (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
  std::string traces_endpoint;
  // Extra request headers (OTEL_EXPORTER_OTLP_HEADERS / _TRACES_HEADERS, "k=v,k2=v2").
  std::vector<std::pair<std::string, std::string>> headers;
  OtlpCompression compression = OtlpCompression::kNone;  // OTEL_EXPORTER_OTLP_COMPRESSION
  OtlpEncoding encoding = OtlpEncoding::kProtobuf;       // OTEL_EXPORTER_OTLP_PROTOCOL
  // service.name for spans whose resource has none (OTEL_SERVICE_NAME).
  std::string service_name;
  std::chrono::milliseconds timeout{10000};  // per HTTP request (OTEL_EXPORTER_OTLP_TIMEOUT)

  size_t max_queue_size = 2048;                      // OTEL_BSP_MAX_QUEUE_SIZE
  size_t max_batch_size = 512;                       // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
  std::chrono::milliseconds max_export_delay{5000};  // OTEL_BSP_SCHEDULE_DELAY

  int max_retries = 5;  // retries after the first attempt (connection errors, 429, 502-504)
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds max_retry_after{60000};  // cap on an honoured Retry-After
  std::chrono::milliseconds shutdown_timeout{2000};  // final flush bound, clamped to <= 2 s

  // Instrumentation scope reported on every ScopeSpans.
  std::string scope_name = "zerotrace";
  std::string scope_version = "0.1.0";

  // True when an endpoint is configured.
  bool Enabled() const { return !endpoint.empty() || !traces_endpoint.empty(); }
  // traces_endpoint if set, else endpoint (default http://localhost:4318) + "/v1/traces".
  std::string TracesUrl() const;

  // `base` (e.g. from the config file) with every OTEL_* variable that is set (and non-empty)
  // applied on top: the environment wins; headers are merged by key (case-insensitive).
  // Errors name the variable and its value.
  static Result<OtlpExporterOptions> FromEnvironment(OtlpExporterOptions base,
                                                     const EnvLookup& env = ProcessEnvironment());
};

// "k=v,k2=v2": keys and values URL-decoded, whitespace around items trimmed.
Result<std::vector<std::pair<std::string, std::string>>> ParseOtlpHeaders(std::string_view text);

}  // namespace zerotrace::otlp
