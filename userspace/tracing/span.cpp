#include "tracing/span.h"

#include <algorithm>

namespace zerotrace::tracing {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is rejected on purpose (W3C trace context)
}

template <size_t N>
std::string BytesToHex(const std::array<uint8_t, N>& bytes) {
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return out;
}

template <size_t N>
std::optional<std::array<uint8_t, N>> HexToBytes(std::string_view hex) {
  if (hex.size() != 2 * N) return std::nullopt;
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

template <size_t N>
bool NotAllZero(const std::array<uint8_t, N>& bytes) {
  return std::any_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b != 0; });
}

}  // namespace

bool IsValid(const TraceId& id) { return NotAllZero(id); }
bool IsValid(const SpanId& id) { return NotAllZero(id); }
std::string ToHex(const TraceId& id) { return BytesToHex(id); }
std::string ToHex(const SpanId& id) { return BytesToHex(id); }
std::optional<TraceId> TraceIdFromHex(std::string_view hex) { return HexToBytes<16>(hex); }
std::optional<SpanId> SpanIdFromHex(std::string_view hex) { return HexToBytes<8>(hex); }

void AttributeList::SetValue(std::string_view key, AttributeValue value) {
  for (auto& item : items_) {
    if (item.key == key) {
      item.value = std::move(value);
      return;
    }
  }
  items_.push_back(Attribute{std::string(key), std::move(value)});
}

void AttributeList::Set(std::string_view key, std::string_view value) {
  SetValue(key, AttributeValue(std::in_place_type<std::string>, value));
}
void AttributeList::Set(std::string_view key, bool value) { SetValue(key, value); }
void AttributeList::Set(std::string_view key, int64_t value) { SetValue(key, value); }
void AttributeList::Set(std::string_view key, double value) { SetValue(key, value); }
void AttributeList::Set(std::string_view key, std::vector<std::string> value) {
  SetValue(key, std::move(value));
}

const AttributeValue* AttributeList::Find(std::string_view key) const {
  for (const auto& item : items_) {
    if (item.key == key) return &item.value;
  }
  return nullptr;
}

bool AttributeList::Remove(std::string_view key) {
  auto it = std::find_if(items_.begin(), items_.end(),
                         [key](const Attribute& a) { return a.key == key; });
  if (it == items_.end()) return false;
  items_.erase(it);
  return true;
}

Resource Resource::ForProcess(std::string_view service_name, std::string_view host_name,
                              int64_t pid, std::string_view executable_name) {
  Resource r;
  if (!service_name.empty()) r.attributes.Set("service.name", service_name);
  if (!host_name.empty()) r.attributes.Set("host.name", host_name);
  if (pid > 0) r.attributes.Set("process.pid", pid);
  if (!executable_name.empty()) r.attributes.Set("process.executable.name", executable_name);
  return r;
}

void Resource::SetK8s(std::string_view suffix, std::string_view value) {
  if (value.empty()) return;
  std::string key = "k8s.";
  key.append(suffix);
  attributes.Set(key, value);
}

}  // namespace zerotrace::tracing
