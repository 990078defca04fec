#pragma once

#include <cstdint>
#include <string_view>

namespace zerotrace::python {

// How a code object maps its instructions to source lines.
enum class LineTableFormat : uint8_t {
  kLocations,  // 3.11+: co_linetable, the location table (CPython's Objects/locations.md)
  kLineTable,  // 3.10: co_linetable, (byte delta u8, line delta s8; -128: no line) pairs
  kLnotab,     // 3.8, 3.9: co_lnotab, (byte increment u8, line increment s8) pairs
};

// The source line of code unit (2-byte instruction word) `index` of a code object, from its
// line table and co_firstlineno; -1 when the instruction has no line or the table ends first
// (or is malformed: the bytes come from a traced process's memory).
int LineOfCodeUnit(LineTableFormat format, std::string_view table, int first_line, int index);

}  // namespace zerotrace::python
