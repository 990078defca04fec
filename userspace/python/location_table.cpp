#include "python/location_table.h"

#include <cstdint>

namespace zerotrace::python {
namespace {

class Reader {
 public:
  explicit Reader(std::string_view t) : t_(t) {}
  bool done() const { return p_ >= t_.size(); }
  uint8_t Byte() { return p_ < t_.size() ? static_cast<uint8_t>(t_[p_++]) : 0; }
  void Skip(size_t n) { p_ += n; }
  // 6 bits per byte, least significant first; bit 6 says another byte follows.
  uint32_t Varint() {
    uint32_t b = Byte(), v = b & 63;
    for (int shift = 6; (b & 64) && shift < 32 && !done(); shift += 6) {
      b = Byte();
      v |= (b & 63) << shift;
    }
    return v;
  }
  int32_t SignedVarint() {
    const uint32_t v = Varint();
    return (v & 1) ? -static_cast<int32_t>(v >> 1) : static_cast<int32_t>(v >> 1);
  }

 private:
  std::string_view t_;
  size_t p_ = 0;
};

}  // namespace

namespace {

// 3.10 (Objects/lnotab_notes.txt): each pair covers `byte delta` bytes of code, on the line
// moved by `line delta`, or on no line (-128).
int LineOf310(std::string_view table, int first_line, int64_t byte) {
  int64_t line = first_line, end = 0;
  for (size_t i = 0; i + 1 < table.size(); i += 2) {
    end += static_cast<uint8_t>(table[i]);
    const int8_t delta = static_cast<int8_t>(table[i + 1]);
    const bool none = delta == -128;
    if (!none) line += delta;
    if (byte < end) return none ? -1 : static_cast<int>(line);
  }
  return -1;
}

// 3.8, 3.9 (PyCode_Addr2Line): the line moves by each pair's increment until the address
// passes the byte offset; the last line reached holds to the end of the code.
int LineOfLnotab(std::string_view table, int first_line, int64_t byte) {
  int64_t line = first_line, addr = 0;
  for (size_t i = 0; i + 1 < table.size(); i += 2) {
    addr += static_cast<uint8_t>(table[i]);
    if (addr > byte) break;
    line += static_cast<int8_t>(table[i + 1]);
  }
  return static_cast<int>(line);
}

int LineOfLocations(std::string_view table, int first_line, int index);

}  // namespace

int LineOfCodeUnit(LineTableFormat format, std::string_view table, int first_line, int index) {
  if (index < 0) return -1;
  switch (format) {
    case LineTableFormat::kLineTable:
      return LineOf310(table, first_line, int64_t{index} * 2);
    case LineTableFormat::kLnotab:
      return LineOfLnotab(table, first_line, int64_t{index} * 2);
    case LineTableFormat::kLocations:
      break;
  }
  return LineOfLocations(table, first_line, index);
}

namespace {

int LineOfLocations(std::string_view table, int first_line, int index) {
  Reader r(table);
  int64_t line = first_line;
  int64_t unit = 0;
  while (!r.done()) {
    const uint8_t head = r.Byte();
    if (!(head & 0x80)) return -1;  // every entry starts with its high bit set
    const int code = (head >> 3) & 15;
    const int units = (head & 7) + 1;
    switch (code) {
      case 15:  // no location
        break;
      case 14:  // long form: line delta, end line delta, column, end column
        line += r.SignedVarint();
        r.Varint();
        r.Varint();
        r.Varint();
        break;
      case 13:  // no column
        line += r.SignedVarint();
        break;
      case 10:
      case 11:
      case 12:  // one line, line delta code - 10, two column bytes
        line += code - 10;
        r.Skip(2);
        break;
      default:  // short form: same line, one column byte
        r.Skip(1);
        break;
    }
    if (index < unit + units) return code == 15 ? -1 : static_cast<int>(line);
    unit += units;
  }
  return -1;
}

}  // namespace
}  // namespace zerotrace::python
