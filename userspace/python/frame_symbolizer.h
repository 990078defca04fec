#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <string>
#include <unordered_map>

#include "python/interpreter.h"
#include "symbolizer/symbolizer.h"

namespace zerotrace::python {

// Names the Python frames the BPF walker put into user stacks (ZT_PY_FRAME_BIT: a code object's
// address and an instruction index) as `qualname` in `file.py` at a line, by reading the code
// object from the process's memory; every other address goes to `native`. A code object that
// cannot be read (the process exited, the object was freed) is `[python]`.
class PythonFrameSymbolizer : public symbolizer::Symbolizer {
 public:
  explicit PythonFrameSymbolizer(symbolizer::SymbolizerPtr native,
                                 std::string proc_root = "/proc");

  void Prepare(uint32_t pid) override { native_->Prepare(pid); }
  profile::Frame Symbolize(uint32_t pid, uint64_t address) override;
  void Forget(uint32_t pid) override;
  size_t memory_bytes() const override;

  // Decoded parts of a walked Python frame; false for a native address.
  static bool Decode(uint64_t address, uint64_t* code, int* index);

 private:
  struct Code {
    std::string qualname;
    std::string filename;
    std::string line_table;
    int first_line = 0;
  };
  struct Process {
    bool inspected = false;
    std::optional<InterpreterLayout> layout;
    std::unordered_map<uint64_t, std::optional<Code>> codes;  // nullopt: unreadable
  };

  const InterpreterLayout* LayoutOf(uint32_t pid, Process& p);
  std::optional<Code> ReadCode(uint32_t pid, const InterpreterLayout& layout, uint64_t code);

  symbolizer::SymbolizerPtr native_;
  std::string proc_root_;
  std::unordered_map<uint32_t, Process> procs_;
  // Interpreter files by (device major, minor, inode): read once, not once per process.
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, std::optional<InterpreterLayout>> files_;
};

}  // namespace zerotrace::python
