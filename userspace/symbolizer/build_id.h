#pragma once

#include <string>

#include "core/result.h"
#include "core/untrusted_file.h"

namespace zerotrace::symbolizer {

// The GNU build id of an ELF file (its NT_GNU_BUILD_ID note) as lowercase hex, read with libelf.
// An ELF without the note is an error too; callers treat any error as "unknown".
// `file` is named by a traced process: opened with OpenUntrustedFile (inside its root, regular
// files up to kMaxBinaryFileBytes).
Result<std::string> ReadBuildId(const FileLocation& file);
inline Result<std::string> ReadBuildId(const std::string& path) {
  return ReadBuildId(FileLocation{"", path});
}

}  // namespace zerotrace::symbolizer
