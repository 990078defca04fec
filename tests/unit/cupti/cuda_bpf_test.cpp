// cuda.bpf.c end to end without a GPU: uprobes on the fake libcuda.so.1 while cuda_workload runs
// its known sequence (cuda_expect.h): launches, names, allocations and the leak's stack, copies and
// sync wait times.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cuda.h"
#include "cuda.skel.h"
#include "bpf_test_events.h"
#include "cuda_expect.h"
#include "test_util.h"

namespace zerotrace::testing {
namespace {

using std::chrono::milliseconds;

struct Seen {
  std::vector<cuda_launch_event> launches;
  std::map<__u64, std::string> names;
  std::map<__u64, __u64> aliases;  // CUfunction -> CUkernel
  std::vector<cuda_alloc_event> allocs;
  std::vector<cuda_free_event> frees;
  std::vector<cuda_memcpy_event> copies;
  std::vector<cuda_sync_event> syncs;
};

int OnEvent(void* ctx, void* data, size_t size) {
  auto* seen = static_cast<Seen*>(ctx);
  const auto* hdr = static_cast<const cuda_event_header*>(data);
  switch (hdr->type) {
    case CUDA_EV_LAUNCH:
      PushEvent(&seen->launches, data, size);
      break;
    case CUDA_EV_FUNC_NAME: {
      const auto* e = static_cast<const cuda_func_name_event*>(data);
      seen->names[e->function] = e->name;
      break;
    }
    case CUDA_EV_FUNC_ALIAS: {
      const auto* e = static_cast<const cuda_func_alias_event*>(data);
      seen->aliases[e->function] = e->kernel;
      break;
    }
    case CUDA_EV_ALLOC:
      PushEvent(&seen->allocs, data, size);
      break;
    case CUDA_EV_FREE:
      PushEvent(&seen->frees, data, size);
      break;
    case CUDA_EV_MEMCPY:
      PushEvent(&seen->copies, data, size);
      break;
    case CUDA_EV_SYNC:
      PushEvent(&seen->syncs, data, size);
      break;
    default:
      ADD_FAILURE() << "unknown event type " << hdr->type;
  }
  return 0;
}

using Skel = OwnedSkeleton<cuda_bpf, cuda_bpf__open_and_load, cuda_bpf__destroy>;

TEST(CudaBpf, FakeDriverWorkload) {
  ZT_REQUIRE_BPF();
  Child child({ZT_CUDA_WORKLOAD, ZT_FAKE_LIBCUDA});
  std::string line;
  auto ready = AwaitReady(child, milliseconds(10000), &line);
  ASSERT_TRUE(ready.has_value()) << line;
  const int pid = ready->pid;
  const unsigned long long leak_site = ready->site;

  Skel skel;
  ASSERT_NE(skel.s, nullptr);
  struct Attach {
    bpf_program* prog;
    const char* func;
    bool ret;
  };
  auto* p = &skel.s->progs;
  const std::vector<Attach> attach = {
      {p->cuLaunchKernel, "cuLaunchKernel", false},
      {p->cuLaunchKernelEx, "cuLaunchKernelEx", false},
      {p->cuModuleGetFunction, "cuModuleGetFunction", false},
      {p->cuModuleGetFunction_ret, "cuModuleGetFunction", true},
      {p->cuLibraryGetKernel, "cuLibraryGetKernel", false},
      {p->cuLibraryGetKernel_ret, "cuLibraryGetKernel", true},
      {p->cuKernelGetFunction, "cuKernelGetFunction", false},
      {p->cuKernelGetFunction_ret, "cuKernelGetFunction", true},
      {p->cuMemAlloc_v2, "cuMemAlloc_v2", false},
      {p->cuMemAlloc_v2_ret, "cuMemAlloc_v2", true},
      {p->cuMemAllocAsync, "cuMemAllocAsync", false},
      {p->cuMemAllocAsync_ret, "cuMemAllocAsync", true},
      {p->cuMemFree_v2, "cuMemFree_v2", false},
      {p->cuMemFree_v2_ret, "cuMemFree_v2", true},
      {p->cuMemFreeAsync, "cuMemFreeAsync", false},
      {p->cuMemFreeAsync_ret, "cuMemFreeAsync", true},
      {p->cuMemcpyHtoD_v2, "cuMemcpyHtoD_v2", false},
      {p->cuMemcpyHtoD_v2_ret, "cuMemcpyHtoD_v2", true},
      {p->cuMemcpyDtoH_v2, "cuMemcpyDtoH_v2", false},
      {p->cuMemcpyDtoH_v2_ret, "cuMemcpyDtoH_v2", true},
      {p->cuMemcpyDtoD_v2, "cuMemcpyDtoD_v2", false},
      {p->cuMemcpyDtoD_v2_ret, "cuMemcpyDtoD_v2", true},
      {p->cuMemcpyAsync, "cuMemcpyAsync", false},
      {p->cuMemcpyAsync_ret, "cuMemcpyAsync", true},
      {p->cuMemcpyHtoDAsync_v2, "cuMemcpyHtoDAsync_v2", false},
      {p->cuMemcpyHtoDAsync_v2_ret, "cuMemcpyHtoDAsync_v2", true},
      {p->cuMemcpyDtoHAsync_v2, "cuMemcpyDtoHAsync_v2", false},
      {p->cuMemcpyDtoHAsync_v2_ret, "cuMemcpyDtoHAsync_v2", true},
      {p->cuCtxSynchronize, "cuCtxSynchronize", false},
      {p->cuCtxSynchronize_ret, "cuCtxSynchronize", true},
      {p->cuStreamSynchronize, "cuStreamSynchronize", false},
      {p->cuStreamSynchronize_ret, "cuStreamSynchronize", true},
      {p->cuEventSynchronize, "cuEventSynchronize", false},
      {p->cuEventSynchronize_ret, "cuEventSynchronize", true},
  };
  for (const auto& a : attach) {
    LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = a.ret, .func_name = a.func);
    bpf_link* l = bpf_program__attach_uprobe_opts(a.prog, pid, ZT_FAKE_LIBCUDA, 0, &opts);
    ASSERT_NE(l, nullptr) << "attach " << a.func << (a.ret ? " (return)" : "");
    skel.links.push_back(l);
  }
  Seen seen;
  ring_buffer* rb =
      ring_buffer__new(bpf_map__fd(skel.s->maps.cuda_events), OnEvent, &seen, nullptr);
  ASSERT_NE(rb, nullptr);

  child.WriteLine("go");
  auto done = child.ReadLine(milliseconds(20000));
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(*done, "done");
  const size_t want_syncs = ZT_CUDA_CTX_SYNCS + ZT_CUDA_STREAM_SYNCS + ZT_CUDA_EVENT_SYNCS;
  WaitFor(
      [&] {
        ring_buffer__poll(rb, 50);
        return seen.syncs.size() >= want_syncs && seen.frees.size() >= ZT_CUDA_FREES;
      },
      milliseconds(5000));
  ring_buffer__free(rb);

  // Names and launches.
  // Two names from cuModuleGetFunction, one from cuLibraryGetKernel (named via its alias).
  ASSERT_EQ(seen.names.size(), 3u);
  ASSERT_EQ(seen.aliases.size(), 1u);
  auto name_of = [&](__u64 function) -> std::string {
    if (auto it = seen.names.find(function); it != seen.names.end()) return it->second;
    if (auto a = seen.aliases.find(function); a != seen.aliases.end()) {
      if (auto it = seen.names.find(a->second); it != seen.names.end()) return it->second;
    }
    return "";
  };
  std::map<std::string, std::vector<cuda_launch_event>> by_name;
  for (const auto& l : seen.launches) {
    EXPECT_EQ(l.hdr.tgid, static_cast<__u32>(pid));
    EXPECT_GE(l.ustack_id, 0);
    const std::string name = name_of(l.function);
    ASSERT_FALSE(name.empty()) << "launch of an unnamed function";
    by_name[name].push_back(l);
  }
  ASSERT_EQ(by_name[ZT_CUDA_REDUCE_NAME].size(), static_cast<size_t>(ZT_CUDA_REDUCE_LAUNCHES));
  EXPECT_EQ(by_name[ZT_CUDA_REDUCE_NAME][0].grid_x, ZT_CUDA_REDUCE_GRID);
  EXPECT_EQ(by_name[ZT_CUDA_REDUCE_NAME][0].block_x, ZT_CUDA_REDUCE_BLOCK);
  ASSERT_EQ(by_name[ZT_CUDA_VECADD_NAME].size(), static_cast<size_t>(ZT_CUDA_VECADD_LAUNCHES));
  ASSERT_EQ(by_name[ZT_CUDA_MATMUL_NAME].size(), static_cast<size_t>(ZT_CUDA_MATMUL_LAUNCHES));
  for (const auto& l : by_name[ZT_CUDA_VECADD_NAME]) {
    EXPECT_EQ(l.hdr.call, static_cast<__u32>(CUDA_CALL_LAUNCH_KERNEL));
    EXPECT_EQ(l.grid_x, ZT_CUDA_VECADD_GRID);
    EXPECT_EQ(l.grid_y, 1u);
    EXPECT_EQ(l.grid_z, 1u);
    EXPECT_EQ(l.block_x, ZT_CUDA_VECADD_BLOCK);
    EXPECT_EQ(l.block_y, 1u);
    EXPECT_EQ(l.block_z, 1u);  // 7th argument: read from the stack
    EXPECT_EQ(l.shared_mem_bytes, 0u);
  }
  for (const auto& l : by_name[ZT_CUDA_MATMUL_NAME]) {
    EXPECT_EQ(l.hdr.call, static_cast<__u32>(CUDA_CALL_LAUNCH_KERNEL_EX));
    EXPECT_EQ(l.grid_x, ZT_CUDA_MATMUL_GRID);
    EXPECT_EQ(l.grid_y, ZT_CUDA_MATMUL_GRID);
    EXPECT_EQ(l.block_x, ZT_CUDA_MATMUL_BLOCK);
    EXPECT_EQ(l.block_y, ZT_CUDA_MATMUL_BLOCK);
    EXPECT_EQ(l.block_z, 1u);
    EXPECT_EQ(l.shared_mem_bytes, 1024u);
  }
  // The vecAdd launches on the fake stream carry its handle (the 9th argument, on the stack).
  ASSERT_FALSE(by_name[ZT_CUDA_VECADD_NAME].empty());
  const __u64 stream = by_name[ZT_CUDA_VECADD_NAME][0].stream;
  EXPECT_NE(stream, 0u);
  EXPECT_EQ(by_name[ZT_CUDA_MATMUL_NAME][0].stream, stream);

  // Allocations, frees, the leak and its stack.
  ASSERT_EQ(seen.allocs.size(), static_cast<size_t>(ZT_CUDA_ALLOCS));
  ASSERT_EQ(seen.frees.size(), static_cast<size_t>(ZT_CUDA_FREES));
  std::multiset<unsigned long long> sizes;
  for (const auto& a : seen.allocs) sizes.insert(a.bytes);
  EXPECT_EQ(sizes, (std::multiset<unsigned long long>{ZT_CUDA_ALLOC_A_BYTES, ZT_CUDA_ALLOC_B_BYTES,
                                                      ZT_CUDA_ALLOC_C_BYTES, ZT_CUDA_LEAK_BYTES}));
  std::set<__u64> freed;
  for (const auto& f : seen.frees) freed.insert(f.dptr);
  std::vector<cuda_alloc_event> leaked;
  for (const auto& a : seen.allocs) {
    EXPECT_NE(a.dptr, 0u);
    if (!freed.count(a.dptr)) leaked.push_back(a);
  }
  ASSERT_EQ(leaked.size(), 1u);
  EXPECT_EQ(leaked[0].bytes, ZT_CUDA_LEAK_BYTES);
  ASSERT_GE(leaked[0].ustack_id, 0);
  std::vector<__u64> frames(ZT_CUDA_STACK_DEPTH, 0);
  ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel.s->maps.cuda_stacks), &leaked[0].ustack_id,
                                frames.data()),
            0);
  bool found = false;
  for (__u64 ip : frames) found |= ip >= leak_site && ip < leak_site + 128;
  EXPECT_TRUE(found) << ZT_CUDA_LEAK_FUNCTION << " not in the leaked allocation's stack";

  // Copies by direction.
  std::map<__u32, unsigned long long> bytes;
  for (const auto& c : seen.copies) {
    bytes[c.direction] += c.bytes;
    EXPECT_EQ(c.result, 0);
  }
  EXPECT_EQ(bytes[CUDA_MEMCPY_HTOD], ZT_CUDA_HTOD_BYTES + ZT_CUDA_ASYNC_COPY_BYTES);
  EXPECT_EQ(bytes[CUDA_MEMCPY_DTOH], ZT_CUDA_DTOH_BYTES + ZT_CUDA_ASYNC_COPY_BYTES);
  EXPECT_EQ(bytes[CUDA_MEMCPY_DTOD], ZT_CUDA_DTOD_BYTES);

  // Sync wait: the fake sleeps ZT_FAKE_CUDA_SYNC_MS per call.
  std::map<__u32, int> calls;
  for (const auto& s : seen.syncs) {
    ++calls[s.hdr.call];
    EXPECT_GE(s.duration_ns, ZT_FAKE_CUDA_SYNC_MS * 1000000ULL);
    EXPECT_LT(s.duration_ns, 2000000000ULL);
  }
  EXPECT_EQ(calls[CUDA_CALL_CTX_SYNCHRONIZE], ZT_CUDA_CTX_SYNCS);
  EXPECT_EQ(calls[CUDA_CALL_STREAM_SYNCHRONIZE], ZT_CUDA_STREAM_SYNCS);
  EXPECT_EQ(calls[CUDA_CALL_EVENT_SYNCHRONIZE], ZT_CUDA_EVENT_SYNCS);

  child.CloseStdin();
  child.Wait(milliseconds(5000));
}

}  // namespace
}  // namespace zerotrace::testing
