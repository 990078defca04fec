#pragma once

#include <string>

namespace zerotrace {

// Whether the ELF file at `path` was built by the Go toolchain (a `.go.buildinfo` section, or
// the `.note.go.buildid` note). Such a program runs its goroutines on any thread, so which
// thread made a call says nothing about which request it serves. False for anything that
// cannot be read as ELF (missing, not ELF, truncated, larger than 4 GiB).
bool IsGoExecutable(const std::string& path);

}  // namespace zerotrace
