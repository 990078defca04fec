#include "symbolizer/proc_maps.h"

#include <gtest/gtest.h>

namespace zerotrace::symbolizer {
namespace {

constexpr const char* kMaps =
    "55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1311 /usr/bin/app\n"
    "55d0c0a01000-55d0c0a05000 r-xp 00001000 fd:01 1311 /usr/bin/app\n"
    "55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0    [heap]\n"
    "7f1c2a028000-7f1c2a1bd000 r-xp 00028000 fd:01 2422 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    "7f1c2b000000-7f1c2b100000 rwxp 00000000 00:00 0 \n"
    "7f1c2c000000-7f1c2c001000 r-xp 00000000 fd:01 777 /opt/with space/lib.so (deleted)\n"
    "7ffd5a5f0000-7ffd5a5f2000 r-xp 00000000 00:00 0    [vdso]\n";

TEST(ProcMapsTest, ParsesEveryField) {
  ProcMaps m = ProcMaps::Parse(kMaps);
  ASSERT_EQ(m.entries().size(), 7u);
  const MapEntry* e = m.Find(0x7f1c2a030000);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(e->offset, 0x28000u);
  EXPECT_EQ(e->perms, "r-xp");
  EXPECT_EQ(e->dev_major, 0xfdu);
  EXPECT_EQ(e->dev_minor, 1u);
  EXPECT_EQ(e->inode, 2422u);
  EXPECT_TRUE(e->executable());
  EXPECT_TRUE(e->file_backed());
}

TEST(ProcMapsTest, FindsOnlyInsideMappings) {
  ProcMaps m = ProcMaps::Parse(kMaps);
  EXPECT_EQ(m.Find(0x1000), nullptr);
  EXPECT_EQ(m.Find(0x55d0c0a05000), nullptr);  // end is exclusive, gap follows
  EXPECT_EQ(m.Find(0x55d0c1000010)->path, "[heap]");
  EXPECT_FALSE(m.Find(0x55d0c1000010)->file_backed());
  EXPECT_TRUE(m.Find(0x7f1c2b000010)->path.empty());
  EXPECT_EQ(m.Find(0x7f1c2c000010)->path, "/opt/with space/lib.so (deleted)");
}

TEST(ProcMapsTest, FallbackNamesModulePlusFileOffset) {
  ProcMaps m = ProcMaps::Parse(kMaps);
  const uint64_t addr = 0x7f1c2a028000 + 0x1234;
  auto f = FallbackFrame(m.Find(addr), addr);
  EXPECT_TRUE(f.function.empty());
  EXPECT_EQ(f.module, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(f.module_offset, 0x28000u + 0x1234u);
  EXPECT_EQ(f.address, addr);
  EXPECT_EQ(profile::FrameName(f), "/usr/lib/x86_64-linux-gnu/libc.so.6+0x29234");
}

TEST(ProcMapsTest, FallbackForAnonymousOrUnmappedMemoryIsTheAddress) {
  ProcMaps m = ProcMaps::Parse(kMaps);
  auto anon = FallbackFrame(m.Find(0x7f1c2b000010), 0x7f1c2b000010);
  EXPECT_EQ(profile::FrameName(anon), "0x7f1c2b000010");
  auto none = FallbackFrame(nullptr, 0xdead);
  EXPECT_EQ(profile::FrameName(none), "0xdead");
}

TEST(ProcMapsTest, ReadsALiveProcessAndNothingForAGoneOne) {
  EXPECT_FALSE(ProcMaps::Read(static_cast<uint32_t>(getpid())).empty());
  EXPECT_TRUE(ProcMaps::Read(4194303).empty());
}

}  // namespace
}  // namespace zerotrace::symbolizer
