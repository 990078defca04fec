#include "otlp/otlp_options.h"

#include <charconv>
#include <cstdlib>

namespace zerotrace::otlp {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexDigit(s[i + 1]);
      int lo = HexDigit(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>((hi << 4) | lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return out;
}

std::optional<uint64_t> ParseUint(std::string_view s) {
  s = Trim(s);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

Error BadValue(std::string_view name, std::string_view value, std::string_view expected) {
  return Error{std::string(name) + "=\"" + std::string(value) + "\": expected " +
               std::string(expected)};
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string OtlpExporterOptions::TracesUrl() const {
  if (!traces_endpoint.empty()) return traces_endpoint;
  std::string base = endpoint.empty() ? "http://localhost:4318" : endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/v1/traces";
}

Result<std::vector<std::pair<std::string, std::string>>> ParseOtlpHeaders(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = Trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Error{"header \"" + std::string(item) + "\": expected key=value"};
    }
    auto key = UrlDecode(Trim(item.substr(0, eq)));
    auto value = UrlDecode(Trim(item.substr(eq + 1)));
    if (!key || !value || key->empty()) {
      return Error{"header \"" + std::string(item) + "\": bad key or URL encoding"};
    }
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

Result<OtlpExporterOptions> OtlpExporterOptions::FromEnvironment(OtlpExporterOptions base,
                                                                 const EnvLookup& env) {
  auto get = [&env](std::string_view name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && Trim(*v).empty()) return std::nullopt;  // empty = unset, as in the OTel spec
    return v;
  };
  if (auto v = get("OTEL_EXPORTER_OTLP_ENDPOINT")) base.endpoint = std::string(Trim(*v));
  if (auto v = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
    base.traces_endpoint = std::string(Trim(*v));
  }
  for (const char* name : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    auto v = get(name);
    if (!v) continue;
    auto parsed = ParseOtlpHeaders(*v);
    if (!parsed) return Error{std::string(name) + ": " + parsed.error().message};
    for (auto& [k, val] : *parsed) {
      bool replaced = false;
      for (auto& [bk, bv] : base.headers) {
        if (Lower(bk) == Lower(k)) {
          bv = val;
          replaced = true;
        }
      }
      if (!replaced) base.headers.emplace_back(k, val);
    }
  }
  for (const char* name :
       {"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"}) {
    auto v = get(name);
    if (!v) continue;
    std::string c = Lower(Trim(*v));
    if (c == "gzip") {
      base.compression = OtlpCompression::kGzip;
    } else if (c == "none") {
      base.compression = OtlpCompression::kNone;
    } else {
      return BadValue(name, *v, "gzip or none");
    }
  }
  for (const char* name : {"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"}) {
    auto v = get(name);
    if (!v) continue;
    std::string p = Lower(Trim(*v));
    if (p == "http/protobuf") {
      base.encoding = OtlpEncoding::kProtobuf;
    } else if (p == "http/json") {
      base.encoding = OtlpEncoding::kJson;
    } else {
      return BadValue(name, *v, "http/protobuf or http/json (grpc is not supported)");
    }
  }
  for (const char* name : {"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"}) {
    auto v = get(name);
    if (!v) continue;
    auto ms = ParseUint(*v);
    if (!ms || *ms == 0) return BadValue(name, *v, "a positive number of milliseconds");
    base.timeout = std::chrono::milliseconds(*ms);
  }
  if (auto v = get("OTEL_SERVICE_NAME")) base.service_name = std::string(Trim(*v));
  if (auto v = get("OTEL_BSP_MAX_QUEUE_SIZE")) {
    auto n = ParseUint(*v);
    if (!n || *n == 0) return BadValue("OTEL_BSP_MAX_QUEUE_SIZE", *v, "a positive integer");
    base.max_queue_size = *n;
  }
  if (auto v = get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) {
    auto n = ParseUint(*v);
    if (!n || *n == 0) {
      return BadValue("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", *v, "a positive integer");
    }
    base.max_batch_size = *n;
  }
  if (auto v = get("OTEL_BSP_SCHEDULE_DELAY")) {
    auto n = ParseUint(*v);
    if (!n) return BadValue("OTEL_BSP_SCHEDULE_DELAY", *v, "milliseconds");
    base.max_export_delay = std::chrono::milliseconds(*n);
  }
  return base;
}

}  // namespace zerotrace::otlp
