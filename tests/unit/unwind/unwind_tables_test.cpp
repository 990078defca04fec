// The kernel tables for real processes (BPF maps: needs root, like the probes' tests).
#include "unwind/unwind_tables.h"

#include <bpf/bpf.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>

#include "test_util.h"

namespace zerotrace::unwind {
namespace {

using zerotrace::testing::Child;
using zerotrace::testing::ReadFileOrEmpty;
using zerotrace::testing::WaitFor;

uint64_t Address(const char* symbol) {
  return reinterpret_cast<uint64_t>(dlsym(RTLD_DEFAULT, symbol));
}

uint64_t VaddrOf(const char* symbol) {
  Dl_info info{};
  void* addr = dlsym(RTLD_DEFAULT, symbol);
  if (!addr || !dladdr(addr, &info)) return 0;
  return reinterpret_cast<uint64_t>(addr) - reinterpret_cast<uint64_t>(info.dli_fbase);
}

TEST(UnwindTablesTest, DescribesAProcessAndSharesFilesBetweenProcesses) {
  ZT_REQUIRE_BPF();
  auto tables = UnwindTables::Create(1u << 20);
  ASSERT_TRUE(tables.ok()) << tables.error().message;
  UnwindTables& t = **tables;
  const uint32_t self = static_cast<uint32_t>(getpid());
  t.Describe(self);
  const UnwindTableStats one = t.stats();
  EXPECT_EQ(one.processes, 1u);
  EXPECT_GE(one.files, 2u);  // this test and libc at least
  EXPECT_GT(one.rows_used, 10000u);

  // What the kernel got: sorted mappings, libc's with rows and the right bias.
  zt_unwind_proc proc{};
  ASSERT_EQ(bpf_map_lookup_elem(t.maps().procs_fd, &self, &proc), 0);
  ASSERT_GE(proc.count, 2u);
  for (uint32_t i = 1; i < proc.count; ++i)
    EXPECT_LT(proc.mappings[i - 1].start, proc.mappings[i].start);
  const uint64_t usleep_pc = Address("usleep");
  bool found = false;
  for (uint32_t i = 0; i < proc.count; ++i) {
    const auto& m = proc.mappings[i];
    if (usleep_pc >= m.start && usleep_pc < m.end) {
      found = true;
      EXPECT_GT(m.row_count, 0u);
      EXPECT_EQ(usleep_pc - m.bias, VaddrOf("usleep"));
    }
  }
  EXPECT_TRUE(found);

  // A second process mapping the same libc: libc's rows are stored once.
  Child sleeper({"/bin/sleep", "30"});
  const uint32_t pid = static_cast<uint32_t>(sleeper.pid());
  // Once it runs sleep with libc mapped (before its exec it is a copy of this test).
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string maps = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/maps");
        return maps.find("/sleep") != std::string::npos && maps.find("libc") != std::string::npos;
      },
      std::chrono::seconds(10)));
  t.Describe(pid);
  const UnwindTableStats two = t.stats();
  EXPECT_EQ(two.processes, 2u);
  EXPECT_EQ(two.files, one.files + 1)  // only sleep is new (ld.so and libc are shared)
      << ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/maps");

  // It exits: describing it again forgets it and frees /bin/sleep's rows.
  sleeper.Signal(SIGKILL);
  ASSERT_TRUE(sleeper.Wait(std::chrono::seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0; },
                      std::chrono::seconds(10)));
  t.Describe(pid);
  const UnwindTableStats three = t.stats();
  EXPECT_EQ(three.processes, 1u);
  EXPECT_EQ(three.files, one.files);
  EXPECT_EQ(three.rows_used, one.rows_used);
  EXPECT_NE(bpf_map_lookup_elem(t.maps().procs_fd, &pid, &proc), 0);
}

// The kernel's flag for a process whose stacks it walked (as the walker sets it).
void MarkWalked(UnwindTables& t, uint32_t tgid) {
  zt_unwind_proc proc{};
  ASSERT_EQ(bpf_map_lookup_elem(t.maps().procs_fd, &tgid, &proc), 0);
  proc.walked = 1;
  ASSERT_EQ(bpf_map_update_elem(t.maps().procs_fd, &tgid, &proc, BPF_EXIST), 0);
}

TEST(UnwindTablesTest, ARecheckRereadsOnlyWalkedProcessesAndForgetsExitedOnes) {
  ZT_REQUIRE_BPF();
  auto tables = UnwindTables::Create(1u << 20);
  ASSERT_TRUE(tables.ok()) << tables.error().message;
  UnwindTables& t = **tables;
  // A shell that becomes sleep: its executable mappings change at the exec.
  Child child({"/bin/sh", "-c", "read line; exec /bin/sleep 30"});
  const uint32_t pid = static_cast<uint32_t>(child.pid());
  const std::string maps_path = "/proc/" + std::to_string(pid) + "/maps";
  ASSERT_TRUE(WaitFor([&] { return ReadFileOrEmpty(maps_path).find("/dash") != std::string::npos; },
                      std::chrono::seconds(10)));
  t.Describe(pid);
  const uint64_t files_as_shell = t.stats().files;
  child.WriteLine("go");
  ASSERT_TRUE(
      WaitFor([&] { return ReadFileOrEmpty(maps_path).find("/sleep") != std::string::npos; },
              std::chrono::seconds(10)));

  // Not walked since it was described: its maps are not read again.
  t.Recheck();
  EXPECT_EQ(t.stats().processes_rechecked, 0u);
  EXPECT_EQ(t.stats().files, files_as_shell);

  // Walked: re-read, found changed, described again (sleep's file instead of dash's).
  MarkWalked(t, pid);
  t.Recheck();
  EXPECT_EQ(t.stats().processes_rechecked, 1u);
  zt_unwind_proc proc{};
  ASSERT_EQ(bpf_map_lookup_elem(t.maps().procs_fd, &pid, &proc), 0);
  EXPECT_EQ(proc.walked, 0u);
  t.Recheck();  // and the flag was cleared: not read again
  EXPECT_EQ(t.stats().processes_rechecked, 1u);

  // It exits: forgotten at the next re-check, walked or not.
  child.Signal(SIGKILL);
  ASSERT_TRUE(child.Wait(std::chrono::seconds(10)).has_value());
  ASSERT_TRUE(WaitFor([&] { return access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0; },
                      std::chrono::seconds(10)));
  t.Recheck();
  EXPECT_EQ(t.stats().processes, 0u);
  EXPECT_EQ(t.stats().files, 0u);
  EXPECT_NE(bpf_map_lookup_elem(t.maps().procs_fd, &pid, &proc), 0);
}

TEST(UnwindTablesTest, AFullRowTableLeavesFilesToFramePointersAndCountsThem) {
  ZT_REQUIRE_BPF();
  auto tables = UnwindTables::Create(1000);  // far fewer rows than libc has
  ASSERT_TRUE(tables.ok()) << tables.error().message;
  (*tables)->Describe(static_cast<uint32_t>(getpid()));
  const UnwindTableStats s = (*tables)->stats();
  EXPECT_EQ(s.processes, 1u);
  EXPECT_GE(s.files_table_full, 1u);
  EXPECT_LE(s.rows_used, 1000u);
}

}  // namespace
}  // namespace zerotrace::unwind
