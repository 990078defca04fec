#pragma once

#include <cstdint>
#include <string>

namespace zerotrace {

// True while process `pid` runs: its /proc entry exists and it is not a zombie (exited, waiting
// for a parent that has not reaped it yet; such a process does no more work and must count as
// gone, or `attach` waits out its whole window on a dead target).
bool ProcessAlive(uint32_t pid, const std::string& proc_root = "/proc");

}  // namespace zerotrace
