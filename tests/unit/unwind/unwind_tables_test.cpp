// The kernel tables for real processes (BPF maps: needs root, like the probes' tests).
#include "unwind/unwind_tables.h"

#include <bpf/bpf.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>

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

// The entry of `proc` whose range holds `pc`, or nullptr.
const zt_unwind_mapping* EntryContaining(const zt_unwind_proc& proc, uint64_t pc) {
  for (uint32_t i = 0; i < proc.count; ++i) {
    if (pc >= proc.mappings[i].start && pc < proc.mappings[i].end) return &proc.mappings[i];
  }
  return nullptr;
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
  const zt_unwind_mapping* libc = EntryContaining(proc, usleep_pc);
  if (libc) {
    EXPECT_GT(libc->row_count, 0u);
    EXPECT_EQ(usleep_pc - libc->bias, VaddrOf("usleep"));
  }
  EXPECT_NE(libc, nullptr);

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

// The walker must not guess by frame pointers in code whose CFI a bound kept out: libc (built
// without them) is marked ZT_UNWIND_ROWS_MISSING, where the walk stops.
TEST(UnwindTablesTest, AFullRowTableMarksFilesLeftOutAsStopsAndCountsThem) {
  ZT_REQUIRE_BPF();
  auto tables = UnwindTables::Create(1000);  // far fewer rows than libc has
  ASSERT_TRUE(tables.ok()) << tables.error().message;
  const uint32_t self = static_cast<uint32_t>(getpid());
  (*tables)->Describe(self);
  const UnwindTableStats s = (*tables)->stats();
  EXPECT_EQ(s.processes, 1u);
  EXPECT_GE(s.files_table_full, 1u);
  EXPECT_LE(s.rows_used, 1000u);
  zt_unwind_proc proc{};
  ASSERT_EQ(bpf_map_lookup_elem((*tables)->maps().procs_fd, &self, &proc), 0);
  const zt_unwind_mapping* libc = EntryContaining(proc, Address("usleep"));
  ASSERT_NE(libc, nullptr);
  EXPECT_EQ(libc->row_count, 0u);
  EXPECT_EQ(libc->row_begin, ZT_UNWIND_ROWS_MISSING);
}

// Start (inclusive) of the first executable mapping of `pid` whose path contains `name`.
uint64_t ExecutableMappingStart(pid_t pid, const std::string& name) {
  std::istringstream maps(ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/maps"));
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(name) == std::string::npos || line.find(" r-xp ") == std::string::npos) continue;
    return std::stoull(line.substr(0, line.find('-')), nullptr, 16);
  }
  return 0;
}

// 300 libraries: more executable mappings than a process entry holds. The program's own mapping
// and the highest ones (libc, the loader, the copy loaded first) keep their rows; one entry
// covers the lowest copies (loaded last) as a stop; every entry is sorted and disjoint.
TEST(UnwindTablesTest, AProcessWithMoreMappingsThanEntriesKeepsItsCoreAndStopsInTheRest) {
  ZT_REQUIRE_BPF();
  const std::string dir = zerotrace::testing::TempDir();
  Child prog({ZT_MANY_LIBS, ZT_MANY_LIBS_LIB, dir, "300", "30"});
  ASSERT_EQ(prog.ReadLine(std::chrono::seconds(60)), "ready");
  auto tables = UnwindTables::Create(1u << 20);
  ASSERT_TRUE(tables.ok()) << tables.error().message;
  const uint32_t pid = static_cast<uint32_t>(prog.pid());
  (*tables)->Describe(pid);
  EXPECT_EQ((*tables)->stats().processes_over_mapping_bound, 1u);
  zt_unwind_proc proc{};
  ASSERT_EQ(bpf_map_lookup_elem((*tables)->maps().procs_fd, &pid, &proc), 0);
  ASSERT_EQ(proc.count, static_cast<uint32_t>(ZT_UNWIND_MAX_MAPPINGS));
  int stops = 0;
  for (uint32_t i = 0; i < proc.count; ++i) {
    const auto& m = proc.mappings[i];
    EXPECT_LT(m.start, m.end);
    if (i > 0) {
      EXPECT_LE(proc.mappings[i - 1].end, m.start) << i;
    }
    if (m.row_begin == ZT_UNWIND_ROWS_MISSING && m.row_count == 0) ++stops;
  }
  EXPECT_EQ(stops, 1);
  for (const char* kept : {"many_libs", "libc.so", "lib_copy_000.so"}) {
    const uint64_t start = ExecutableMappingStart(prog.pid(), kept);
    ASSERT_NE(start, 0u) << kept;
    const zt_unwind_mapping* m = EntryContaining(proc, start);
    ASSERT_NE(m, nullptr) << kept;
    EXPECT_GT(m->row_count, 0u) << kept;
  }
  const uint64_t last = ExecutableMappingStart(prog.pid(), "lib_copy_299.so");
  ASSERT_NE(last, 0u);
  const zt_unwind_mapping* m = EntryContaining(proc, last);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->row_begin, ZT_UNWIND_ROWS_MISSING);
  prog.Signal(SIGKILL);
}

}  // namespace
}  // namespace zerotrace::unwind
