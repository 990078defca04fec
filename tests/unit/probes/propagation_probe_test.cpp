#include "probes/propagation_probe.h"

#include <gtest/gtest.h>

namespace zerotrace {
namespace {

TEST(FindCgroup2RootTest, UnifiedHierarchy) {
  EXPECT_EQ(FindCgroup2Root("sysfs /sys sysfs rw 0 0\n"
                            "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n"),
            "/sys/fs/cgroup");
}

TEST(FindCgroup2RootTest, HybridHostHasItUnderUnified) {
  EXPECT_EQ(FindCgroup2Root("tmpfs /sys/fs/cgroup tmpfs rw,mode=755 0 0\n"
                            "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
                            "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n"),
            "/sys/fs/cgroup/unified");
}

TEST(FindCgroup2RootTest, NoneOrGarbage) {
  EXPECT_EQ(FindCgroup2Root("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"), "");
  EXPECT_EQ(FindCgroup2Root(""), "");
  EXPECT_EQ(FindCgroup2Root("cgroup2\n\n  \n"), "");
}

}  // namespace
}  // namespace zerotrace
