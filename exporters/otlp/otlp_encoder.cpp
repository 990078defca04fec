#include "otlp/otlp_encoder.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/utf8.h"

namespace zerotrace::otlp {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
using nlohmann::json;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool IsUrlKey(std::string_view key) {
  return key == "url.full" || key == "url.path" || key == "http.target" || key == "http.url";
}

std::string StripQuery(std::string_view url) {
  size_t pos = url.find_first_of("?#");
  return std::string(pos == std::string_view::npos ? url : url.substr(0, pos));
}

void FillAnyValue(const tracing::AttributeValue& value, common::AnyValue* out) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          out->set_string_value(ToValidUtf8(v));
        } else if constexpr (std::is_same_v<T, bool>) {
          out->set_bool_value(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->set_int_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out->set_double_value(v);
        } else {
          auto* array = out->mutable_array_value();
          for (const auto& s : v) array->add_values()->set_string_value(ToValidUtf8(s));
        }
      },
      value);
}

void FillAttributes(const tracing::AttributeList& attributes,
                    google::protobuf::RepeatedPtrField<common::KeyValue>* out) {
  for (const auto& attr : attributes.items()) {
    if (IsSecretAttributeKey(attr.key)) continue;
    auto* kv = out->Add();
    kv->set_key(ToValidUtf8(attr.key));
    const auto* str = std::get_if<std::string>(&attr.value);
    if (str != nullptr && IsUrlKey(attr.key)) {
      kv->mutable_value()->set_string_value(ToValidUtf8(StripQuery(*str)));
    } else {
      FillAnyValue(attr.value, kv->mutable_value());
    }
  }
}

trace::Span::SpanKind ToProtoKind(tracing::SpanKind kind) {
  switch (kind) {
    case tracing::SpanKind::kServer:
      return trace::Span::SPAN_KIND_SERVER;
    case tracing::SpanKind::kClient:
      return trace::Span::SPAN_KIND_CLIENT;
    case tracing::SpanKind::kInternal:
      return trace::Span::SPAN_KIND_INTERNAL;
  }
  return trace::Span::SPAN_KIND_INTERNAL;
}

void FillSpan(const tracing::Span& span, trace::Span* out) {
  out->set_trace_id(span.trace_id.data(), span.trace_id.size());
  out->set_span_id(span.span_id.data(), span.span_id.size());
  if (!span.trace_state.empty()) out->set_trace_state(ToValidUtf8(span.trace_state));
  if (span.parent_span_id && tracing::IsValid(*span.parent_span_id)) {
    out->set_parent_span_id(span.parent_span_id->data(), span.parent_span_id->size());
  }
  out->set_flags(span.trace_flags);
  out->set_name(ToValidUtf8(span.name));
  out->set_kind(ToProtoKind(span.kind));
  out->set_start_time_unix_nano(span.start_unix_ns);
  out->set_end_time_unix_nano(std::max(span.end_unix_ns, span.start_unix_ns));
  FillAttributes(span.attributes, out->mutable_attributes());
  if (span.status.code != tracing::StatusCode::kUnset) {
    auto* status = out->mutable_status();
    status->set_code(static_cast<trace::Status::StatusCode>(span.status.code));
    if (span.status.code == tracing::StatusCode::kError) {
      status->set_message(ToValidUtf8(span.status.message));
    }
  }
}

// ---- JSON ----

std::string Hex(const std::string& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto byte = [&bytes](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])); };
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(n >> s) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t n = byte(i) << 16;
    if (i + 1 < bytes.size()) n |= byte(i + 1) << 8;
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kB64[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

json DoubleJson(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return d;
}

json AnyValueJson(const common::AnyValue& v);

json KeyValuesJson(const google::protobuf::RepeatedPtrField<common::KeyValue>& kvs) {
  json out = json::array();
  for (const auto& kv : kvs) {
    json item = {{"key", kv.key()}};
    if (kv.has_value()) item["value"] = AnyValueJson(kv.value());
    out.push_back(std::move(item));
  }
  return out;
}

json AnyValueJson(const common::AnyValue& v) {
  json out = json::object();
  switch (v.value_case()) {
    case common::AnyValue::kStringValue:
      out["stringValue"] = v.string_value();
      break;
    case common::AnyValue::kBoolValue:
      out["boolValue"] = v.bool_value();
      break;
    case common::AnyValue::kIntValue:
      out["intValue"] = std::to_string(v.int_value());
      break;
    case common::AnyValue::kDoubleValue:
      out["doubleValue"] = DoubleJson(v.double_value());
      break;
    case common::AnyValue::kArrayValue: {
      json values = json::array();
      for (const auto& e : v.array_value().values()) values.push_back(AnyValueJson(e));
      out["arrayValue"] = {{"values", std::move(values)}};
      break;
    }
    case common::AnyValue::kKvlistValue:
      out["kvlistValue"] = {{"values", KeyValuesJson(v.kvlist_value().values())}};
      break;
    case common::AnyValue::kBytesValue:
      out["bytesValue"] = Base64(v.bytes_value());  // OTLP/JSON keeps base64 for bytes values
      break;
    case common::AnyValue::VALUE_NOT_SET:
      break;
  }
  return out;
}

json SpanJson(const trace::Span& s) {
  json out = json::object();
  out["traceId"] = Hex(s.trace_id());
  out["spanId"] = Hex(s.span_id());
  if (!s.trace_state().empty()) out["traceState"] = s.trace_state();
  if (!s.parent_span_id().empty()) out["parentSpanId"] = Hex(s.parent_span_id());
  if (s.flags() != 0) out["flags"] = s.flags();
  out["name"] = s.name();
  if (s.kind() != 0) out["kind"] = static_cast<int>(s.kind());
  out["startTimeUnixNano"] = std::to_string(s.start_time_unix_nano());
  out["endTimeUnixNano"] = std::to_string(s.end_time_unix_nano());
  if (s.attributes_size() > 0) out["attributes"] = KeyValuesJson(s.attributes());
  if (s.dropped_attributes_count() != 0) {
    out["droppedAttributesCount"] = s.dropped_attributes_count();
  }
  if (s.has_status()) {
    json status = json::object();
    if (!s.status().message().empty()) status["message"] = s.status().message();
    if (s.status().code() != 0) status["code"] = static_cast<int>(s.status().code());
    out["status"] = std::move(status);
  }
  return out;
}

}  // namespace

bool IsSecretAttributeKey(std::string_view key) {
  std::string k = Lower(key);
  return k.find("authorization") != std::string::npos || k.find("cookie") != std::string::npos ||
         k == "url.query";
}

ExportTraceServiceRequest BuildExportRequest(std::span<const tracing::Span> spans,
                                             const tracing::Resource& default_resource,
                                             const EncodeOptions& options) {
  ExportTraceServiceRequest request;
  // Few distinct resources per batch: linear search, pointer identity first, then value.
  std::vector<std::pair<const tracing::Resource*, trace::ScopeSpans*>> groups;
  for (const auto& span : spans) {
    const tracing::Resource* res = span.resource ? span.resource.get() : &default_resource;
    trace::ScopeSpans* scope_spans = nullptr;
    for (const auto& [r, ss] : groups) {
      if (r == res || *r == *res) {
        scope_spans = ss;
        break;
      }
    }
    if (scope_spans == nullptr) {
      auto* rs = request.add_resource_spans();
      auto* proto_resource = rs->mutable_resource();
      FillAttributes(res->attributes, proto_resource->mutable_attributes());
      if (res->attributes.Find("service.name") == nullptr &&
          !options.default_service_name.empty()) {
        auto* kv = proto_resource->add_attributes();
        kv->set_key("service.name");
        kv->mutable_value()->set_string_value(ToValidUtf8(options.default_service_name));
      }
      scope_spans = rs->add_scope_spans();
      scope_spans->mutable_scope()->set_name(options.scope_name);
      if (!options.scope_version.empty()) {
        scope_spans->mutable_scope()->set_version(options.scope_version);
      }
      groups.emplace_back(res, scope_spans);
    }
    FillSpan(span, scope_spans->add_spans());
  }
  return request;
}

std::string ToOtlpJson(const ExportTraceServiceRequest& request) {
  json resource_spans = json::array();
  for (const auto& rs : request.resource_spans()) {
    json rs_json = json::object();
    if (rs.has_resource()) {
      json res = json::object();
      res["attributes"] = KeyValuesJson(rs.resource().attributes());
      if (rs.resource().dropped_attributes_count() != 0) {
        res["droppedAttributesCount"] = rs.resource().dropped_attributes_count();
      }
      rs_json["resource"] = std::move(res);
    }
    json scope_spans = json::array();
    for (const auto& ss : rs.scope_spans()) {
      json ss_json = json::object();
      if (ss.has_scope()) {
        json scope = json::object();
        if (!ss.scope().name().empty()) scope["name"] = ss.scope().name();
        if (!ss.scope().version().empty()) scope["version"] = ss.scope().version();
        ss_json["scope"] = std::move(scope);
      }
      json spans = json::array();
      for (const auto& s : ss.spans()) spans.push_back(SpanJson(s));
      ss_json["spans"] = std::move(spans);
      if (!ss.schema_url().empty()) ss_json["schemaUrl"] = ss.schema_url();
      scope_spans.push_back(std::move(ss_json));
    }
    rs_json["scopeSpans"] = std::move(scope_spans);
    if (!rs.schema_url().empty()) rs_json["schemaUrl"] = rs.schema_url();
    resource_spans.push_back(std::move(rs_json));
  }
  json root = {{"resourceSpans", std::move(resource_spans)}};
  // Never throw on bad UTF-8 (strings built elsewhere are already sanitized).
  return root.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace zerotrace::otlp
