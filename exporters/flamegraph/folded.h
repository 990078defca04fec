#pragma once

// Brendan Gregg's folded-stack format, one line per distinct stack:
//   process;[truncated];root_frame;...;leaf_frame VALUE
// It is the lingua franca of flamegraph tools (flamegraph.pl, inferno, speedscope, Pyroscope
// import), so we write it as the plain-text export and read it back for tests and offline use.

#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "flamegraph/profile.h"

namespace zerotrace::flamegraph {

// Marker frame placed right after the process for stacks whose root part was cut off.
inline constexpr std::string_view kTruncatedFrame = "[truncated]";

// Makes a name safe for one folded field: ';' (the separator) becomes ':', control characters
// (newlines would split the record) become ' '. An empty name becomes "[unknown]".
std::string SanitizeFoldedName(std::string_view name);

class FoldedWriter {
 public:
  // Writes identical lines once with summed values, sorted, so output is deterministic and
  // diffable. Zero-valued samples are skipped. Fails only on stream errors.
  static Status Write(const Profile& profile, std::ostream& out);
  static std::string ToString(const Profile& profile);
  static Status WriteFile(const Profile& profile, const std::string& path);

  // The folded line for one sample without the value: `process;frame;...`.
  static std::string StackLine(const StackSample& sample);
};

struct FoldedReadResult {
  Profile profile;
  bool ok = true;        // false only when the input could not be read at all (e.g. missing file)
  std::string error;     // why ok == false
  size_t lines = 0;      // non-blank lines seen
  size_t bad_lines = 0;  // lines skipped because they did not parse
  std::vector<std::string> errors;  // "line N: reason" for the first kMaxReportedErrors bad lines
  static constexpr size_t kMaxReportedErrors = 20;
};

class FoldedReader {
 public:
  // Parses folded text back into a Profile of the given type. Frame kinds come from the suffixes
  // (`_[k]` kernel, `_[j]` JIT, `[gpu] ` prefix GPU, otherwise user); `module+0xOFF` and `0xADDR`
  // names are split back into module/offset/address. pid and build ids are not in the format
  // and read back as 0 / empty. Bad lines are counted and skipped, never fatal.
  static FoldedReadResult Read(std::istream& in, ProfileType type = ProfileType::kOnCpu);
  static FoldedReadResult ReadString(std::string_view text, ProfileType type = ProfileType::kOnCpu);
  static FoldedReadResult ReadFile(const std::string& path, ProfileType type = ProfileType::kOnCpu);

  // Inverse of FrameLabel() for one folded field.
  static Frame ParseFrame(std::string_view label);
};

}  // namespace zerotrace::flamegraph
