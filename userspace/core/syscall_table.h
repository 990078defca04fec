#pragma once

#include <cstdint>
#include <string>

namespace zerotrace {

// Name of a syscall number on this architecture ("read", "openat"); unknown numbers become
// "syscall_<nr>" so they stay distinguishable rather than collapsing into one label value.
std::string SyscallName(uint32_t nr);

}  // namespace zerotrace
