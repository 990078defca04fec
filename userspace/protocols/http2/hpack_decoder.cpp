#include "protocols/http2/hpack_decoder.h"

#include <array>
#include <utility>

#include "protocols/http2/huffman.h"

namespace zerotrace::protocols {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 61> kStaticTable = {{
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
}};

constexpr size_t kEntryOverhead = 32;

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  bool done() const { return pos_ >= in_.size(); }
  uint8_t peek() const { return in_[pos_]; }

  // RFC 7541 §5.1 prefix integer.
  HpackStatus Int(int prefix_bits, uint64_t* out) {
    if (done()) return HpackStatus::kTruncated;
    const uint8_t mask = static_cast<uint8_t>((1u << prefix_bits) - 1);
    uint64_t v = in_[pos_++] & mask;
    if (v < mask) {
      *out = v;
      return HpackStatus::kOk;
    }
    for (int shift = 0;; shift += 7) {
      if (shift > 28) return HpackStatus::kBadInteger;  // far beyond any sane length/index
      if (done()) return HpackStatus::kTruncated;
      const uint8_t b = in_[pos_++];
      v += static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
    }
    *out = v;
    return HpackStatus::kOk;
  }

  // String literal; `scratch` receives Huffman-decoded text. *out views input or scratch.
  HpackStatus String(std::string* scratch, std::string_view* out) {
    if (done()) return HpackStatus::kTruncated;
    const bool huffman = (in_[pos_] & 0x80) != 0;
    uint64_t len = 0;
    const HpackStatus st = Int(7, &len);
    if (st != HpackStatus::kOk) return st;
    if (len > in_.size() - pos_) return HpackStatus::kTruncated;
    const auto bytes = in_.subspan(pos_, len);
    pos_ += len;
    if (!huffman) {
      *out = {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
      return HpackStatus::kOk;
    }
    scratch->clear();
    if (!HuffmanDecode(bytes, scratch)) return HpackStatus::kBadHuffman;
    *out = *scratch;
    return HpackStatus::kOk;
  }

 private:
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
};

}  // namespace

std::string_view HpackStatusName(HpackStatus s) {
  switch (s) {
    case HpackStatus::kOk:
      return "ok";
    case HpackStatus::kTruncated:
      return "truncated";
    case HpackStatus::kBadInteger:
      return "bad_integer";
    case HpackStatus::kBadHuffman:
      return "bad_huffman";
    case HpackStatus::kBadIndex:
      return "bad_index";
    case HpackStatus::kTableSizeError:
      return "table_size_error";
    case HpackStatus::kDesynced:
      return "desynced";
  }
  return "?";
}

bool HpackDecoder::Lookup(uint64_t index, std::string_view* name, std::string_view* value) const {
  if (index == 0) return false;
  if (index <= kStaticTable.size()) {
    *name = kStaticTable[index - 1].first;
    *value = kStaticTable[index - 1].second;
    return true;
  }
  const uint64_t d = index - kStaticTable.size() - 1;
  if (d >= table_.size()) return false;
  *name = table_[d].name;
  *value = table_[d].value;
  return true;
}

void HpackDecoder::EvictTo(size_t limit) {
  while (size_ > limit && !table_.empty()) {
    size_ -= table_.back().name.size() + table_.back().value.size() + kEntryOverhead;
    table_.pop_back();
  }
}

void HpackDecoder::Insert(std::string_view name, std::string_view value) {
  const size_t entry = name.size() + value.size() + kEntryOverhead;
  if (entry > max_size_) {
    // RFC 7541 §4.4: an entry larger than the table empties it and is not added.
    EvictTo(0);
    return;
  }
  EvictTo(max_size_ - entry);
  table_.push_front(Entry{std::string(name), std::string(value)});
  size_ += entry;
}

HpackStatus HpackDecoder::Decode(std::span<const uint8_t> block, HeaderHandler& handler) {
  if (desynced_) return HpackStatus::kDesynced;
  Reader r(block);
  HpackStatus result = HpackStatus::kOk;
  bool field_seen = false;
  std::string name_copy;
  while (!r.done()) {
    const uint8_t b = r.peek();
    uint64_t index = 0;
    if (b & 0x80) {  // §6.1 indexed header field
      const HpackStatus st = r.Int(7, &index);
      if (st != HpackStatus::kOk) return Fail(st);
      field_seen = true;
      std::string_view n, v;
      if (!Lookup(index, &n, &v)) {
        result = HpackStatus::kBadIndex;  // table unaffected: keep decoding
        continue;
      }
      handler.OnHeader(n, v);
      continue;
    }
    if ((b & 0xe0) == 0x20) {  // §6.3 dynamic table size update
      uint64_t size = 0;
      const HpackStatus st = r.Int(5, &size);
      if (st != HpackStatus::kOk) return Fail(st);
      if (field_seen || size > allowed_max_) return Fail(HpackStatus::kTableSizeError);
      max_size_ = size;
      EvictTo(max_size_);
      continue;
    }
    // §6.2 literal: with incremental indexing (01), without indexing (0000), never indexed (0001).
    const bool indexing = (b & 0xc0) == 0x40;
    const HpackStatus st = r.Int(indexing ? 6 : 4, &index);
    if (st != HpackStatus::kOk) return Fail(st);
    field_seen = true;
    std::string_view name, value;
    bool name_known = true;
    if (index == 0) {
      const HpackStatus ns = r.String(&name_buf_, &name);
      if (ns != HpackStatus::kOk) return Fail(ns);
    } else {
      std::string_view unused;
      name_known = Lookup(index, &name, &unused);
    }
    const HpackStatus vs = r.String(&value_buf_, &value);
    if (vs != HpackStatus::kOk) return Fail(vs);
    if (!name_known) {
      // Inserting an entry whose name we do not know would make every later index suspect.
      if (indexing) return Fail(HpackStatus::kBadIndex);
      result = HpackStatus::kBadIndex;
      continue;
    }
    handler.OnHeader(name, value);
    if (indexing) {
      // The name may view a dynamic entry that insertion evicts: copy it first.
      name_copy.assign(name);
      Insert(name_copy, value);
    }
  }
  return result;
}

}  // namespace zerotrace::protocols
