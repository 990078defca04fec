#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace zerotrace::tracing {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

bool IsValid(const TraceId& id);       // not all-zero
bool IsValid(const SpanId& id);        // not all-zero
std::string ToHex(const TraceId& id);  // 32 lowercase hex chars
std::string ToHex(const SpanId& id);   // 16 lowercase hex chars
// Parse exactly 32 / 16 lowercase hex chars (uppercase rejected). All-zero ids parse (check
// IsValid).
std::optional<TraceId> TraceIdFromHex(std::string_view hex);
std::optional<SpanId> SpanIdFromHex(std::string_view hex);

// Typed attribute value: string, bool, int64, double, array of strings.
using AttributeValue = std::variant<std::string, bool, int64_t, double, std::vector<std::string>>;

struct Attribute {
  std::string key;
  AttributeValue value;
  bool operator==(const Attribute&) const = default;
};

// An ordered attribute list with set-or-replace semantics. The overloads avoid the
// const char* → bool conversion trap of std::variant.
class AttributeList {
 public:
  void Set(std::string_view key, std::string_view value);
  void Set(std::string_view key, const char* value) { Set(key, std::string_view(value)); }
  void Set(std::string_view key, const std::string& value) { Set(key, std::string_view(value)); }
  void Set(std::string_view key, bool value);
  void Set(std::string_view key, int64_t value);
  void Set(std::string_view key, int32_t value) { Set(key, static_cast<int64_t>(value)); }
  void Set(std::string_view key, uint32_t value) { Set(key, static_cast<int64_t>(value)); }
  void Set(std::string_view key, double value);
  void Set(std::string_view key, std::vector<std::string> value);
  const AttributeValue* Find(std::string_view key) const;
  bool Remove(std::string_view key);
  const std::vector<Attribute>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  bool operator==(const AttributeList&) const = default;

 private:
  void SetValue(std::string_view key, AttributeValue value);
  std::vector<Attribute> items_;
};

// OTLP resource: who produced the spans (one per observed process, typically shared).
struct Resource {
  AttributeList attributes;

  // service.name, host.name, process.pid, process.executable.name (empty / <= 0 skipped).
  static Resource ForProcess(std::string_view service_name, std::string_view host_name, int64_t pid,
                             std::string_view executable_name);
  // Adds a k8s.* attribute, e.g. SetK8s("pod.name", "web-1") → k8s.pod.name. Empty skipped.
  void SetK8s(std::string_view suffix, std::string_view value);
  bool operator==(const Resource&) const = default;
};

enum class SpanKind : uint8_t { kInternal = 1, kServer = 2, kClient = 3 };
enum class StatusCode : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

struct SpanStatus {
  StatusCode code = StatusCode::kUnset;
  std::string message;  // only exported for kError
  bool operator==(const SpanStatus&) const = default;
};

inline constexpr uint8_t kTraceFlagSampled = 0x01;

struct Span {
  TraceId trace_id{};
  SpanId span_id{};
  std::optional<SpanId> parent_span_id;  // empty = root span
  std::string trace_state;               // W3C tracestate, passed through
  uint8_t trace_flags = kTraceFlagSampled;
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;
  SpanStatus status;
  AttributeList attributes;
  // Shared by all spans of one process; null = the exporter's default resource.
  std::shared_ptr<const Resource> resource;

  uint64_t DurationNs() const {
    return end_unix_ns > start_unix_ns ? end_unix_ns - start_unix_ns : 0;
  }
};

}  // namespace zerotrace::tracing
