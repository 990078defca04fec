// SyscallAggregator: kernel aggregates (a BPF hash map the test fills as the probe would) become
// monotonic series per (service, syscall), and series idle past their TTL leave the registry.
#include "aggregators/syscall_aggregator.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "test_util.h"

namespace zerotrace {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

struct Map {
  int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "zt_test_sys", sizeof(syscall_key),
                          sizeof(syscall_stats), 1024, nullptr);
  ~Map() {
    if (fd >= 0) close(fd);
  }
  void Put(uint32_t tgid, uint32_t nr, uint64_t count, const char* comm) {
    syscall_key k{tgid, nr};
    syscall_stats v{};
    v.count = count;
    v.total_ns = count * 1000;
    v.hist[10] = count;
    std::strncpy(v.comm, comm, sizeof(v.comm) - 1);
    ASSERT_EQ(bpf_map_update_elem(fd, &k, &v, BPF_ANY), 0);
  }
};

double Calls(prometheus::Registry& registry, const std::string& service = "") {
  double total = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "zerotrace_syscalls_total") continue;
    for (const auto& m : family.metric) {
      bool match = service.empty();
      for (const auto& l : m.label) match |= l.name == "service_name" && l.value == service;
      if (match) total += m.counter.value;
    }
  }
  return total;
}

TEST(SyscallAggregatorTest, IdleSeriesLeaveTheRegistryAndComeBackAtZero) {
  ZT_REQUIRE_BPF();
  Map map;
  ASSERT_GE(map.fd, 0) << std::strerror(errno);
  prometheus::Registry registry;
  ProcessCatalog catalog("/proc");
  SyscallAggregator agg(registry, catalog, map.fd, minutes(10));
  const auto t0 = std::chrono::steady_clock::now();
  const auto self = static_cast<uint32_t>(getpid());  // a live process: its entries are kept
  map.Put(self, 0, 5, "job-a");
  map.Put(self, 1, 7, "job-a");
  agg.Collect(t0);
  EXPECT_EQ(agg.series(), 2u);
  EXPECT_EQ(Calls(registry), 12);
  // Counts grow: deltas only.
  map.Put(self, 0, 8, "job-a");
  agg.Collect(t0 + seconds(30));
  EXPECT_EQ(Calls(registry), 15);
  // Ten minutes without growth for syscall 1, less for syscall 0: only syscall 1 goes.
  map.Put(self, 0, 9, "job-a");
  agg.Collect(t0 + minutes(5));
  agg.Collect(t0 + minutes(10) + seconds(1));
  EXPECT_EQ(agg.series(), 1u);
  EXPECT_EQ(Calls(registry), 9);
  // Called again: the series is back, counting from its new calls.
  map.Put(self, 1, 10, "job-a");
  agg.Collect(t0 + minutes(11));
  EXPECT_EQ(agg.series(), 2u);
  EXPECT_EQ(Calls(registry), 12);
}

// A pid first seen between fork and exec (or before any exec) is named again at each
// collection: what it counts after the exec goes to the program it became.
TEST(SyscallAggregatorTest, CountsAfterAnExecGoToTheNewProgram) {
  ZT_REQUIRE_BPF();
  Map map;
  ASSERT_GE(map.fd, 0) << std::strerror(errno);
  prometheus::Registry registry;
  ProcessCatalog catalog("/proc");  // the default trust window: the exec must still be seen
  SyscallAggregator agg(registry, catalog, map.fd, minutes(10));
  testing::Child sh(
      {"/bin/sh", "-c", "read cue; exec env OTEL_SERVICE_NAME=zt-exec-agg /bin/sleep 30"});
  const auto pid = static_cast<uint32_t>(sh.pid());
  ASSERT_TRUE(testing::WaitFor([&] { return catalog.LookupFresh(pid).has_value(); }, seconds(10)));
  map.Put(pid, 39, 3, "sh");
  agg.Collect();
  EXPECT_EQ(Calls(registry, "zt-exec-agg"), 0);
  EXPECT_EQ(Calls(registry), 3);
  sh.WriteLine("go");
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return testing::ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/comm") == "sleep\n";
      },
      seconds(10)));
  map.Put(pid, 39, 10, "sleep");
  agg.Collect();
  EXPECT_EQ(Calls(registry, "zt-exec-agg"), 7);
  EXPECT_EQ(Calls(registry), 10);
}

}  // namespace
}  // namespace zerotrace
