// cupti.bpf.c end to end without a GPU: cupti_synthetic publishes real CUPTI records through the
// injector's USDT code; the USDT programs must deliver them intact and keep launch stacks.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bpf_test_events.h"
#include "cuda_expect.h"
#include "cupti.h"
#include "cupti.skel.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

using std::chrono::milliseconds;

struct Seen {
  std::vector<cupti_kernel_event> kernels;
  std::vector<std::string> kernel_names;
  std::vector<cupti_memcpy_event> memcpys;
  std::vector<cupti_memset_event> memsets;
  std::vector<cupti_memory_event> memory;
  std::vector<cupti_sync_event> syncs;
  std::vector<cupti_dropped_event> dropped;
  size_t total() const {
    return kernels.size() + memcpys.size() + memsets.size() + memory.size() + syncs.size() +
           dropped.size();
  }
};

int OnEvent(void* ctx, void* data, size_t size) {
  auto* seen = static_cast<Seen*>(ctx);
  const auto* hdr = static_cast<const cupti_event_header*>(data);
  switch (hdr->type) {
    case CUPTI_EV_KERNEL: {
      PushEvent(&seen->kernels, data, size);
      seen->kernel_names.emplace_back(seen->kernels.back().name);
      break;
    }
    case CUPTI_EV_MEMCPY:
      PushEvent(&seen->memcpys, data, size);
      break;
    case CUPTI_EV_MEMSET:
      PushEvent(&seen->memsets, data, size);
      break;
    case CUPTI_EV_MEMORY:
      PushEvent(&seen->memory, data, size);
      break;
    case CUPTI_EV_SYNC:
      PushEvent(&seen->syncs, data, size);
      break;
    case CUPTI_EV_DROPPED:
      PushEvent(&seen->dropped, data, size);
      break;
    default:
      ADD_FAILURE() << "unknown event type " << hdr->type;
  }
  return 0;
}

using Skel = OwnedSkeleton<cupti_bpf, cupti_bpf__open_and_load, cupti_bpf__destroy>;

TEST(CuptiBpf, SyntheticRecordsReachTheRingBuffer) {
  ZT_REQUIRE_BPF();
  Child child({ZT_CUPTI_SYNTHETIC});
  std::string line;
  auto ready = AwaitReady(child, milliseconds(10000), &line);
  ASSERT_TRUE(ready.has_value()) << line;
  const int pid = ready->pid;
  const unsigned long long launch_site = ready->site;

  Skel skel;
  ASSERT_NE(skel.s, nullptr);
  const std::vector<std::pair<bpf_program*, const char*>> probes = {
      {skel.s->progs.cupti_kernel, "kernel"},   {skel.s->progs.cupti_memcpy, "memcpy"},
      {skel.s->progs.cupti_memset, "memset"},   {skel.s->progs.cupti_memory, "memory"},
      {skel.s->progs.cupti_sync, "sync"},       {skel.s->progs.cupti_launch, "launch"},
      {skel.s->progs.cupti_dropped, "dropped"},
  };
  for (const auto& [prog, name] : probes) {
    bpf_link* l =
        bpf_program__attach_usdt(prog, pid, ZT_CUPTI_SYNTHETIC, "zerotrace", name, nullptr);
    ASSERT_NE(l, nullptr) << "attach zerotrace:" << name;
    skel.links.push_back(l);
  }
  Seen seen;
  ring_buffer* rb =
      ring_buffer__new(bpf_map__fd(skel.s->maps.cupti_events), OnEvent, &seen, nullptr);
  ASSERT_NE(rb, nullptr);

  child.WriteLine("go");
  auto done = child.ReadLine(milliseconds(10000));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(*done, "done");
  const size_t expected = ZT_CUDA_VECADD_LAUNCHES + ZT_CUDA_MATMUL_LAUNCHES + 3 + 1 + 7 + 3 + 1;
  WaitFor(
      [&] {
        ring_buffer__poll(rb, 50);
        return seen.total() >= expected;
      },
      milliseconds(5000));
  ring_buffer__free(rb);

  // Kernels: names, dims, GPU durations.
  ASSERT_EQ(seen.kernels.size(), ZT_CUDA_VECADD_LAUNCHES + ZT_CUDA_MATMUL_LAUNCHES);
  int vecadd = 0, matmul = 0;
  for (size_t i = 0; i < seen.kernels.size(); i++) {
    const auto& k = seen.kernels[i];
    EXPECT_EQ(k.hdr.tgid, static_cast<__u32>(pid));
    EXPECT_EQ(k.rec.correlation_id, ZT_SYNTH_FIRST_CORRELATION + i);
    if (seen.kernel_names[i] == ZT_CUDA_VECADD_NAME) {
      ++vecadd;
      EXPECT_EQ(k.rec.end - k.rec.start, ZT_SYNTH_VECADD_NS);
      EXPECT_EQ(k.rec.grid_x, static_cast<int>(ZT_CUDA_VECADD_GRID));
      EXPECT_EQ(k.rec.block_x, static_cast<int>(ZT_CUDA_VECADD_BLOCK));
      EXPECT_EQ(k.rec.grid_y, 1);
    } else if (seen.kernel_names[i] == ZT_CUDA_MATMUL_NAME) {
      ++matmul;
      EXPECT_EQ(k.rec.end - k.rec.start, ZT_SYNTH_MATMUL_NS);
      EXPECT_EQ(k.rec.grid_y, static_cast<int>(ZT_CUDA_MATMUL_GRID));
      EXPECT_EQ(k.rec.block_y, static_cast<int>(ZT_CUDA_MATMUL_BLOCK));
    } else {
      ADD_FAILURE() << "unexpected kernel name '" << seen.kernel_names[i] << "'";
    }
  }
  EXPECT_EQ(vecadd, ZT_CUDA_VECADD_LAUNCHES);
  EXPECT_EQ(matmul, ZT_CUDA_MATMUL_LAUNCHES);

  // Copies and memsets.
  std::map<int, unsigned long long> copy_bytes;
  for (const auto& m : seen.memcpys) copy_bytes[m.rec.copy_kind] += m.rec.bytes;
  EXPECT_EQ(copy_bytes[CUPTI_ZT_MEMCPY_HTOD], ZT_CUDA_HTOD_BYTES);
  EXPECT_EQ(copy_bytes[CUPTI_ZT_MEMCPY_DTOH], ZT_CUDA_DTOH_BYTES);
  ASSERT_EQ(seen.memsets.size(), 1u);
  EXPECT_EQ(seen.memsets[0].rec.bytes, ZT_SYNTH_MEMSET_BYTES);

  // Memory: 4 allocations, 3 releases; the 3 MiB one outstanding.
  long long outstanding = 0;
  int allocs = 0, releases = 0;
  for (const auto& m : seen.memory) {
    if (m.rec.op == CUPTI_ZT_MEMORY_OP_ALLOC) {
      ++allocs;
      outstanding += static_cast<long long>(m.rec.bytes);
    } else if (m.rec.op == CUPTI_ZT_MEMORY_OP_RELEASE) {
      ++releases;
      outstanding -= static_cast<long long>(m.rec.bytes);
    }
  }
  EXPECT_EQ(allocs, ZT_CUDA_ALLOCS);
  EXPECT_EQ(releases, ZT_CUDA_FREES);
  EXPECT_EQ(outstanding, static_cast<long long>(ZT_CUDA_LEAK_BYTES));

  // Syncs and the drop counters.
  ASSERT_EQ(seen.syncs.size(), static_cast<size_t>(ZT_CUDA_CTX_SYNCS + ZT_CUDA_STREAM_SYNCS));
  for (const auto& s : seen.syncs) EXPECT_EQ(s.rec.end - s.rec.start, ZT_SYNTH_SYNC_NS);
  ASSERT_EQ(seen.dropped.size(), 1u);
  EXPECT_EQ(seen.dropped[0].cupti_dropped_total, ZT_SYNTH_DROPPED_CUPTI);
  EXPECT_EQ(seen.dropped[0].rate_skipped_total, ZT_SYNTH_DROPPED_RATE);

  // Launch stacks: one per kernel correlation id, each passing through synthetic_launch_site.
  const int launches_fd = bpf_map__fd(skel.s->maps.launch_stacks);
  const int stacks_fd = bpf_map__fd(skel.s->maps.cupti_stacks);
  for (unsigned i = 0; i < ZT_CUDA_VECADD_LAUNCHES + ZT_CUDA_MATMUL_LAUNCHES; i++) {
    cupti_launch_key key = {static_cast<__u32>(pid), ZT_SYNTH_FIRST_CORRELATION + i};
    cupti_launch_info info = {};
    ASSERT_EQ(bpf_map_lookup_elem(launches_fd, &key, &info), 0)
        << "correlation " << key.correlation_id;
    ASSERT_GE(info.ustack_id, 0);
    std::vector<__u64> frames(ZT_CUPTI_STACK_DEPTH, 0);
    ASSERT_EQ(bpf_map_lookup_elem(stacks_fd, &info.ustack_id, frames.data()), 0);
    bool found = false;
    for (__u64 ip : frames) found |= ip >= launch_site && ip < launch_site + 256;
    EXPECT_TRUE(found) << "synthetic_launch_site not in launch stack of correlation "
                       << key.correlation_id;
  }
  child.CloseStdin();
  child.Wait(milliseconds(5000));
}

}  // namespace
}  // namespace zerotrace::testing
