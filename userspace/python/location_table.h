#pragma once

#include <string_view>

namespace zerotrace::python {

// The source line of code unit `index` of a CPython 3.11+ code object, from its location table
// (co_linetable; format in CPython's Objects/locations.md) and co_firstlineno; -1 when the
// instruction has no line or the table ends first (or is malformed: the bytes come from a
// traced process's memory).
int LineOfCodeUnit(std::string_view table, int first_line, int index);

}  // namespace zerotrace::python
