#pragma once

#include <string>

#include "core/result.h"

namespace zerotrace::symbolizer {

// The GNU build id of an ELF file (its NT_GNU_BUILD_ID note) as lowercase hex, read with libelf.
// An ELF without the note is an error too; callers treat any error as "unknown".
Result<std::string> ReadBuildId(const std::string& path);

}  // namespace zerotrace::symbolizer
