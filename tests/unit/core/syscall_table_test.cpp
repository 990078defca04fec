#include <gtest/gtest.h>
#include <sys/syscall.h>

#include "core/syscall_table.h"

namespace zerotrace {
namespace {

// The table is generated from the UAPI header; compare against the libc constants of the same
// architecture rather than hard-coded numbers.
TEST(SyscallTableTest, NamesMatchLibcConstants) {
  EXPECT_EQ(SyscallName(SYS_read), "read");
  EXPECT_EQ(SyscallName(SYS_write), "write");
  EXPECT_EQ(SyscallName(SYS_openat), "openat");
  EXPECT_EQ(SyscallName(SYS_getppid), "getppid");
  EXPECT_EQ(SyscallName(SYS_clock_nanosleep), "clock_nanosleep");
  EXPECT_EQ(SyscallName(SYS_io_uring_enter), "io_uring_enter");
}

TEST(SyscallTableTest, UnknownNumbersStayDistinct) {
  EXPECT_EQ(SyscallName(99999), "syscall_99999");
}

}  // namespace
}  // namespace zerotrace
