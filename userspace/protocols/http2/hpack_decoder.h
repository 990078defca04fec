#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>

namespace zerotrace::protocols {

enum class HpackStatus : uint8_t {
  kOk = 0,
  kTruncated,       // block ended inside a representation
  kBadInteger,      // integer overflow
  kBadHuffman,      // invalid Huffman string
  kBadIndex,        // index outside the static + dynamic table (e.g. joined mid-connection)
  kTableSizeError,  // size update above the allowed maximum or not at the block start
  kDesynced,        // an earlier error left the dynamic table unknown; nothing can be trusted
};

std::string_view HpackStatusName(HpackStatus s);

class HeaderHandler {
 public:
  virtual ~HeaderHandler() = default;
  // Views are valid only during the call.
  virtual void OnHeader(std::string_view name, std::string_view value) = 0;
};

// HPACK decoder (RFC 7541) for one direction of one connection: static table, dynamic table with
// size-bounded eviction, Huffman strings, dynamic table size updates.
//
// Joining a connection mid-way leaves earlier dynamic entries unknown. References to them are
// out of range (entries are indexed newest first), so they are reported as kBadIndex while the
// rest of the block still decodes and the table stays consistent. Only when an unknown entry
// would have been *inserted* (or the block is otherwise corrupt) does the decoder give up for
// good (kDesynced): later blocks could decode to wrong values, and wrong is worse than unknown.
class HpackDecoder {
 public:
  static constexpr size_t kDefaultTableSize = 4096;
  // Memory bound regardless of what the peers negotiate.
  static constexpr size_t kHardMaxTableSize = 64 * 1024;

  HpackDecoder() = default;

  HpackStatus Decode(std::span<const uint8_t> block, HeaderHandler& handler);

  // SETTINGS_HEADER_TABLE_SIZE sent by the decoding side: upper bound for size updates.
  void SetAllowedMaxTableSize(size_t n) {
    allowed_max_ = n < kHardMaxTableSize ? n : kHardMaxTableSize;
  }
  // Framing was lost (bytes not captured): later blocks may reference entries we never saw.
  void MarkDesynced() { desynced_ = true; }
  size_t allowed_max_table_size() const { return allowed_max_; }

  size_t table_size() const { return size_; }       // RFC 7541 §4.1 size
  size_t max_table_size() const { return max_size_; }
  size_t dynamic_entries() const { return table_.size(); }
  bool desynced() const { return desynced_; }
  // For tests: 1-based HPACK index (1..61 static, 62.. dynamic). False when out of range.
  bool Lookup(uint64_t index, std::string_view* name, std::string_view* value) const;

 private:
  struct Entry {
    std::string name;
    std::string value;
  };

  void Insert(std::string_view name, std::string_view value);
  void EvictTo(size_t limit);
  HpackStatus Fail(HpackStatus s) {
    desynced_ = true;
    return s;
  }

  std::deque<Entry> table_;  // front = newest
  size_t size_ = 0;
  size_t max_size_ = kDefaultTableSize;
  size_t allowed_max_ = kDefaultTableSize;
  bool desynced_ = false;
  std::string name_buf_;
  std::string value_buf_;
};

}  // namespace zerotrace::protocols
