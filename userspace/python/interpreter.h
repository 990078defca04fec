#pragma once

// CPython interpreters in traced processes: which file is one, where its state and eval loop
// are, and its version's memory layout (what the BPF walker reads, bpf/unwind.h
// zt_unwind_python, and what the frame symbolizer reads of code objects).

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/result.h"
#include "python/location_table.h"
#include "unwind.h"

namespace zerotrace::python {

// Where a code object keeps what a frame's name is made of (bytes from the object's start).
struct CodeLayout {
  uint16_t first_line = 0;   // int co_firstlineno
  uint16_t filename = 0;     // str *co_filename
  uint16_t qualname = 0;     // str *co_qualname (3.11+), co_name before
  uint16_t line_table = 0;   // bytes *co_linetable (3.10+), co_lnotab before
  LineTableFormat line_format = LineTableFormat::kLocations;
  uint16_t ascii_data = 0;   // first character of a compact ASCII str
  uint16_t compact_data = 0; // first character of another compact str
};

struct InterpreterLayout {
  int minor = 0;              // 3.minor
  zt_unwind_python kernel{};  // offsets and rules; the addresses are left 0
  CodeLayout code;
};

// The layout of CPython 3.minor on x86-64 (release builds; 3.13's free-threaded build is not
// supported), or nullopt for versions whose frames are not read (they stay native only).
// Supported: 3.8 to 3.13. Offsets were read with offsetof() from each version's headers
// and checked in live interpreters (docs/design/python-frames.md).
std::optional<InterpreterLayout> LayoutFor(int major, int minor);

// True for file names of a CPython interpreter binary or library: python3.N, libpython3.N.so*.
// Returns the minor version from the name in *minor.
bool LooksLikeInterpreter(std::string_view path, int* minor);

// What one interpreter file holds (ELF virtual addresses).
struct InterpreterFile {
  int major = 0, minor = 0;  // from Py_Version (3.11+), else from the file name
  uint64_t runtime = 0;      // _PyRuntime
  uint64_t eval_start = 0, eval_end = 0;  // _PyEval_EvalFrameDefault
  // The eval loop's cold part (GCC moves rarely run blocks into a separate function without a
  // symbol in stripped builds); 0, 0 when none was found.
  uint64_t cold_start = 0, cold_end = 0;
};

// Reads the interpreter's symbols from the ELF file open at `fd` (not closed). An error when it
// is not a CPython interpreter with its runtime and eval loop exported (a python3.N launcher
// that links libpython, for one).
Result<InterpreterFile> InspectInterpreterFile(int fd, int name_minor, bool find_cold_part = true);

}  // namespace zerotrace::python
