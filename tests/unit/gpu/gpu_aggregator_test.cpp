// GpuAggregator fed with hand-made ring buffer events: metrics, label bounds, double-count rules,
// leaks, the GPU profile and the Chrome trace, with fake stack sources.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <unistd.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "bpf/cuda.h"
#include "bpf/cupti.h"
#include "catalog_check.h"
#include "flamegraph/folded.h"
#include "gpu/gpu_aggregator.h"
#include "test_util.h"

namespace zerotrace::gpu {
namespace {

using testing::SumSamples;

constexpr uint32_t kPid = 4242;  // not a live process: service name "unknown"

class GpuAggregatorTest : public ::testing::Test {
 protected:
  GpuAggregatorTest() : catalog_("/nonexistent-proc") {}

  // Every series each test made is one the catalog declares (no GPU reaches the live-scrape
  // check: this is where the GPU families are held to the catalog).
  void TearDown() override {
    for (const auto& v : testing::CatalogViolations(registry_.Collect())) ADD_FAILURE() << v;
  }

  void Make(GpuAggregatorOptions options = {}, bool injector = false) {
    GpuSources s;
    s.cuda_stack = [this](int32_t id) {
      return std::vector<uint64_t>{cuda_stack_base_ + id, 0x2000, 0x3000};
    };
    s.cupti_stack = [](int32_t id) { return std::vector<uint64_t>{0x5000u + id, 0x6000}; };
    s.take_launch = [this](uint32_t tgid, uint32_t corr) -> std::optional<cupti_launch_info> {
      auto it = launches_.find({tgid, corr});
      if (it == launches_.end()) return std::nullopt;
      auto info = it->second;
      launches_.erase(it);
      return info;
    };
    s.has_injector = [injector](uint32_t) { return injector; };
    agg_ = std::make_unique<GpuAggregator>(registry_, catalog_, s, options);
  }

  std::vector<testing::Sample> Scrape() {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_.Collect());
    return testing::ParsePrometheusText(out.str());
  }

  template <typename T>
  void Cuda(T e) {
    agg_->OnCudaEvent(&e, sizeof(e));
  }
  template <typename T>
  void Cupti(T e) {
    agg_->OnCuptiEvent(&e, sizeof(e));
  }

  static cuda_event_header Hdr(uint32_t type, uint32_t call, uint64_t ts = 1000) {
    return {type, call, kPid, kPid + 1, ts};
  }
  void Name(uint64_t function, const char* name) {
    cuda_func_name_event e{};
    e.hdr = Hdr(CUDA_EV_FUNC_NAME, CUDA_CALL_MODULE_GET_FUNCTION);
    e.function = function;
    std::strncpy(e.name, name, sizeof(e.name) - 1);
    Cuda(e);
  }
  void Launch(uint64_t function) {
    cuda_launch_event e{};
    e.hdr = Hdr(CUDA_EV_LAUNCH, CUDA_CALL_LAUNCH_KERNEL);
    e.function = function;
    e.ustack_id = 1;
    Cuda(e);
  }
  void Alloc(uint64_t dptr, uint64_t bytes, int32_t stack, uint64_t caller = 0) {
    cuda_alloc_event e{};
    e.hdr = Hdr(CUDA_EV_ALLOC, CUDA_CALL_MEM_ALLOC);
    e.dptr = dptr;
    e.bytes = bytes;
    e.ustack_id = stack;
    e.caller = caller;
    Cuda(e);
  }
  void Free(uint64_t dptr) {
    cuda_free_event e{};
    e.hdr = Hdr(CUDA_EV_FREE, CUDA_CALL_MEM_FREE);
    e.dptr = dptr;
    Cuda(e);
  }
  void Memcpy(uint32_t dir, uint64_t bytes) {
    cuda_memcpy_event e{};
    e.hdr = Hdr(CUDA_EV_MEMCPY, CUDA_CALL_MEMCPY_HTOD);
    e.direction = dir;
    e.bytes = bytes;
    e.duration_ns = 1000;
    Cuda(e);
  }
  void Kernel(const char* name, uint32_t corr, uint64_t start, uint64_t ns, uint32_t stream = 7) {
    cupti_kernel_event e{};
    e.hdr = {CUPTI_EV_KERNEL, kPid, start + ns};
    e.rec.start = start;
    e.rec.end = start + ns;
    e.rec.correlation_id = corr;
    e.rec.stream_id = stream;
    std::strncpy(e.name, name, sizeof(e.name) - 1);
    Cupti(e);
  }

  uint64_t cuda_stack_base_ = 0x1000;
  prometheus::Registry registry_;
  ProcessCatalog catalog_;
  std::map<std::pair<uint32_t, uint32_t>, cupti_launch_info> launches_;
  std::unique_ptr<GpuAggregator> agg_;
};

TEST_F(GpuAggregatorTest, LaunchesByDemangledShortName) {
  Make();
  Name(1, "_Z6vecAddPKfS0_Pfi");
  for (int i = 0; i < 3; i++) Launch(1);
  Launch(99);  // never named
  const auto s = Scrape();
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_kernel_launches_total",
                       {{"service_name", "unknown"}, {"kernel", "vecAdd"}}),
            3);
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_kernel_launches_total", {{"kernel", "unknown"}}), 1);
}

TEST_F(GpuAggregatorTest, KernelLabelsAreBoundedPerService) {
  GpuAggregatorOptions o;
  o.max_kernels_per_service = 2;
  Make(o);
  for (uint64_t f = 1; f <= 5; f++) {
    Name(f, ("kernel" + std::to_string(f)).c_str());
    Launch(f);
  }
  const auto s = Scrape();
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_kernel_launches_total", {{"kernel", "kernel1"}}), 1);
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_kernel_launches_total", {{"kernel", "kernel2"}}), 1);
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_kernel_launches_total", {{"kernel", "other"}}), 3);
  EXPECT_FALSE(
      testing::HasSample(s, "zerotrace_gpu_kernel_launches_total", {{"kernel", "kernel3"}}));
}

// A node's services come and go (rollouts, finished jobs): their GPU series must not stay in
// /metrics for the daemon's lifetime, and a returning service gets a fresh kernel label bound.
TEST_F(GpuAggregatorTest, IdleSeriesExpireAndTheKernelBoundResets) {
  GpuAggregatorOptions o;
  o.max_kernels_per_service = 1;
  o.series_ttl = std::chrono::seconds(5);
  Make(o);
  Name(1, "first");
  Name(2, "second");
  Launch(1);
  Launch(2);  // over the bound: "other"
  Memcpy(CUDA_MEMCPY_HTOD, 64);
  Kernel("first", 1, 1000, 500);
  EXPECT_EQ(SumSamples(Scrape(), "zerotrace_gpu_kernel_launches_total", {{"kernel", "other"}}), 1);
  const size_t before = agg_->series_count();
  EXPECT_EQ(before, 5u);  // launches x2, kernel duration, memcpy bytes + duration

  agg_->RemoveIdleSeries(SteadyNs());  // fresh: nothing goes
  EXPECT_EQ(agg_->series_count(), before);
  agg_->RemoveIdleSeries(SteadyNs() + std::chrono::nanoseconds(std::chrono::seconds(6)).count());
  EXPECT_EQ(agg_->series_count(), 0u);
  const auto gone = Scrape();
  EXPECT_FALSE(testing::HasSample(gone, "zerotrace_gpu_kernel_launches_total", {}));
  EXPECT_FALSE(testing::HasSample(gone, "zerotrace_gpu_memcpy_bytes_total", {}));
  EXPECT_FALSE(testing::HasSample(gone, "zerotrace_gpu_kernel_duration_seconds_count", {}));

  // The service comes back with the other kernel first: the bound starts over.
  Launch(2);
  const auto back = Scrape();
  EXPECT_EQ(SumSamples(back, "zerotrace_gpu_kernel_launches_total", {{"kernel", "second"}}), 1);
  EXPECT_FALSE(
      testing::HasSample(back, "zerotrace_gpu_kernel_launches_total", {{"kernel", "other"}}));
}

TEST_F(GpuAggregatorTest, OutstandingMemoryAndLeaks) {
  Make();
  Alloc(0xa, 100, 1);
  Alloc(0xb, 200, 2);
  Alloc(0xc, 300, 2);
  Free(0xa);
  Free(0xdead);  // allocated before we attached
  EXPECT_EQ(SumSamples(Scrape(), "zerotrace_gpu_memory_allocated_bytes", {}), 500);
  EXPECT_EQ(agg_->stats().unknown_frees, 1u);
  const auto leaks = agg_->Leaks(5);
  ASSERT_EQ(leaks.size(), 1u);
  EXPECT_EQ(leaks[0].outstanding_bytes, 500u);
  EXPECT_EQ(leaks[0].outstanding_allocations, 2u);
  ASSERT_EQ(leaks[0].sites.size(), 1u);
  EXPECT_EQ(leaks[0].sites[0].stack_id, 2);
  EXPECT_EQ(leaks[0].sites[0].allocations, 2u);
  ASSERT_TRUE(leaks[0].sites[0].stack);
  ASSERT_EQ(leaks[0].sites[0].stack->size(), 3u);
  EXPECT_EQ(leaks[0].sites[0].stack->front().address, 0x3000u);  // root first
  EXPECT_EQ(leaks[0].sites[0].stack->back().address, 0x1002u);
  const std::string report = agg_->LeakReport(5);
  EXPECT_NE(report.find("500 bytes in 2 outstanding allocations"), std::string::npos) << report;
  EXPECT_NE(report.find("0x1002"), std::string::npos) << report;
  agg_->ForgetProcesses({kPid});
  EXPECT_TRUE(agg_->Leaks().empty());
  EXPECT_FALSE(testing::HasSample(Scrape(), "zerotrace_gpu_memory_allocated_bytes", {}));
}

// Kernels that walk a uprobe's user stack from the caller's frame (5.10) leave the caller out:
// the return address taken at entry goes back in as the second frame; where the kernel has it
// already (0x2000 here), nothing is added. Two callers under one stack id are two leak sites.
TEST_F(GpuAggregatorTest, TheCallerMissingFromAnEntryStackIsPutBack) {
  Make();
  Alloc(0xa, 100, 1, 0x1500);  // stack 0x1001, 0x2000, 0x3000 lacks the caller 0x1500
  Alloc(0xb, 10, 1, 0x1600);
  Alloc(0xc, 1, 2, 0x2000);  // already the second frame
  auto addresses = [](const FramesPtr& f) {
    std::vector<uint64_t> out;
    for (auto it = f->rbegin(); it != f->rend(); ++it) out.push_back(it->address);  // leaf first
    return out;
  };
  const auto leaks = agg_->Leaks(10);
  ASSERT_EQ(leaks.size(), 1u);
  ASSERT_EQ(leaks[0].sites.size(), 3u);
  EXPECT_EQ(addresses(leaks[0].sites[0].stack),
            (std::vector<uint64_t>{0x1001, 0x1500, 0x2000, 0x3000}));
  EXPECT_EQ(addresses(leaks[0].sites[1].stack),
            (std::vector<uint64_t>{0x1001, 0x1600, 0x2000, 0x3000}));
  EXPECT_EQ(addresses(leaks[0].sites[2].stack), (std::vector<uint64_t>{0x1002, 0x2000, 0x3000}));
}

TEST_F(GpuAggregatorTest, ForgetStacksDropsCachedFrames) {
  Make();
  auto leaf = [&] { return agg_->Leaks(10).at(0).sites.at(0).stack->back().address; };
  Alloc(0xa, 100, 7);
  cuda_stack_base_ = 0x9000;  // the map emptied: id 7 now names another stack
  agg_->ForgetStacks(/*cuda=*/false, /*cupti=*/true);
  Alloc(0xb, 100, 7);
  Free(0xa);
  EXPECT_EQ(leaf(), 0x1007u);  // the cuda cache was kept
  agg_->ForgetStacks(/*cuda=*/true, /*cupti=*/false);
  Alloc(0xc, 100, 7);
  Free(0xb);
  EXPECT_EQ(leaf(), 0x9007u);  // resolved again
}

TEST_F(GpuAggregatorTest, DriverCopiesCountOnlyWithoutInjector) {
  Make({}, /*injector=*/true);
  Memcpy(CUDA_MEMCPY_HTOD, 4096);
  EXPECT_FALSE(testing::HasSample(Scrape(), "zerotrace_gpu_memcpy_bytes_total", {}));
  cupti_memcpy_event e{};
  e.hdr = {CUPTI_EV_MEMCPY, kPid, 0};
  e.rec.copy_kind = CUPTI_ZT_MEMCPY_PTOP;
  e.rec.bytes = 8192;
  e.rec.start = 10;
  e.rec.end = 1010;
  Cupti(e);
  const auto s = Scrape();
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_memcpy_bytes_total", {{"kind", "PtoP"}}), 8192);
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_memcpy_bytes_total", {}), 8192);
}

TEST_F(GpuAggregatorTest, SyncWaitFromCuptiWhenInjected) {
  Make({}, /*injector=*/true);
  cuda_sync_event d{};
  d.hdr = Hdr(CUDA_EV_SYNC, CUDA_CALL_CTX_SYNCHRONIZE);
  d.duration_ns = 5000;
  Cuda(d);  // the driver's view: not counted, CUPTI's is
  cupti_sync_event c{};
  c.hdr = {CUPTI_EV_SYNC, kPid, 0};
  c.rec.type = 4;
  c.rec.start = 100;
  c.rec.end = 2100;
  Cupti(c);
  EXPECT_NEAR(SumSamples(Scrape(), "zerotrace_cuda_sync_wait_seconds_total", {{"call", "context"}}),
              2000e-9, 1e-15);
}

TEST_F(GpuAggregatorTest, SyncWaitFromDriverWithoutInjector) {
  Make();
  cuda_sync_event d{};
  d.hdr = Hdr(CUDA_EV_SYNC, CUDA_CALL_STREAM_SYNCHRONIZE);
  d.duration_ns = 5000;
  Cuda(d);
  EXPECT_NEAR(SumSamples(Scrape(), "zerotrace_cuda_sync_wait_seconds_total", {{"call", "stream"}}),
              5000e-9, 1e-15);
}

TEST_F(GpuAggregatorTest, DriverCopiesWithoutInjector) {
  Make();
  Memcpy(CUDA_MEMCPY_HTOD, 4096);
  Memcpy(CUDA_MEMCPY_UNKNOWN, 10);
  const auto s = Scrape();
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_memcpy_bytes_total", {{"kind", "HtoD"}}), 4096);
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_memcpy_bytes_total", {{"kind", "unknown"}}), 10);
}

TEST_F(GpuAggregatorTest, BusyTimeIsTheUnionOfKernelIntervals) {
  Make();
  Kernel("a", 1, 1000, 1000);  // [1000, 2000)
  Kernel("b", 2, 1500, 1000);  // overlaps: +500
  Kernel("c", 3, 5000, 100);   // +100
  EXPECT_NEAR(SumSamples(Scrape(), "zerotrace_gpu_busy_seconds_total", {{"device", "0"}}), 1600e-9,
              1e-15);
}

TEST_F(GpuAggregatorTest, ProfileAndTraceJoinLaunchesByCorrelation) {
  Make();
  launches_[{kPid, 10}] = cupti_launch_info{500, 3, kPid + 5, 307, 1};
  launches_[{kPid, 11}] = cupti_launch_info{600, 3, kPid + 5, 307, 1};
  Kernel("_Z6vecAddPKfS0_Pfi", 10, 1000, 1000);
  Kernel("_Z6vecAddPKfS0_Pfi", 11, 3000, 2000);
  Kernel("_Z6matMulPKfS0_Pfi", 12, 6000, 500);  // no launch record
  const auto rec = agg_->StartRecording({kPid});
  Kernel("_Z6matMulPKfS0_Pfi", 13, 7000, 700);
  const auto recorded = agg_->StopRecording(rec);
  ASSERT_EQ(recorded.samples.size(), 1u);
  EXPECT_EQ(recorded.samples[0].value, 700u);

  const auto profile = agg_->Profile();
  EXPECT_EQ(profile.type, profile::ProfileType::kGpu);
  const std::string folded = flamegraph::FoldedWriter::ToString(profile);
  EXPECT_NE(folded.find("unknown;0x6000;0x5003;[gpu] vecAdd(float const*, float const*, float*, "
                        "int) 3000"),
            std::string::npos)
      << folded;
  EXPECT_NE(folded.find("unknown;[unknown launch site];[gpu] matMul(float const*, float const*, "
                        "float*, int) 1200"),
            std::string::npos)
      << folded;
  EXPECT_EQ(profile::TotalValue(profile), 4200u);
  EXPECT_TRUE(agg_->Profile({1}).samples.empty());

  const auto s = Scrape();
  EXPECT_EQ(SumSamples(s, "zerotrace_gpu_kernel_duration_seconds_count", {{"kernel", "vecAdd"}}),
            2);
  EXPECT_NEAR(SumSamples(s, "zerotrace_gpu_kernel_duration_seconds_sum", {{"kernel", "matMul"}}),
              1200e-9, 1e-15);

  const auto trace = nlohmann::json::parse(chrome::TraceWriter::ToJson(agg_->ChromeTrace()));
  int kernels = 0, launches = 0, starts = 0, ends = 0;
  bool named_track = false;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "X" && e["cat"] == "gpu") ++kernels;
    if (e["ph"] == "X" && e["cat"] == "cuda") {
      ++launches;
      EXPECT_EQ(e["tid"], kPid + 5);
      EXPECT_EQ(e["name"], "cuLaunchKernel");
    }
    if (e["ph"] == "s") ++starts;
    if (e["ph"] == "f") ++ends;
    if (e["ph"] == "M" && e["name"] == "thread_name") {
      named_track |= e["args"]["name"] == "GPU 0 stream 7";
    }
  }
  EXPECT_EQ(kernels, 4);
  EXPECT_EQ(launches, 2);
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(ends, 2);
  EXPECT_TRUE(named_track);
  // A window drops what started before it.
  const auto late = agg_->ChromeTrace({}, 6000);
  EXPECT_EQ(late.slices.size(), 2u);
  EXPECT_TRUE(late.flows.empty());
}

TEST_F(GpuAggregatorTest, TraceRingIsBounded) {
  GpuAggregatorOptions o;
  o.max_trace_slices = 10;
  Make(o);
  for (uint32_t i = 0; i < 100; i++) Kernel("k", i, 1000 + i * 10, 5);
  const auto t = agg_->ChromeTrace();
  EXPECT_EQ(t.slices.size(), 10u);
  EXPECT_EQ(t.slices.back().start_ns, 1000 + 99 * 10);
}

TEST_F(GpuAggregatorTest, InjectorDropsAreCountedOnce) {
  Make();
  cupti_dropped_event d{};
  d.hdr = {CUPTI_EV_DROPPED, kPid, 0};
  d.cupti_dropped_total = 5;
  d.rate_skipped_total = 2;
  Cupti(d);
  d.cupti_dropped_total = 7;  // cumulative
  Cupti(d);
  EXPECT_EQ(agg_->stats().injector_dropped, 9u);
}

TEST_F(GpuAggregatorTest, ShortEventsAreIgnored) {
  Make();
  cuda_event_header h = Hdr(CUDA_EV_LAUNCH, CUDA_CALL_LAUNCH_KERNEL);
  agg_->OnCudaEvent(&h, sizeof(h));  // a launch event needs more bytes
  agg_->OnCudaEvent(&h, 3);
  EXPECT_FALSE(testing::HasSample(Scrape(), "zerotrace_gpu_kernel_launches_total", {}));
}

// On Kubernetes every GPU series carries the k8s_* labels of the RED and syscall series: the GPU
// dashboard filters on k8s_namespace_name, and without them its panels were empty there.
TEST(GpuAggregatorK8sTest, SeriesCarryTheWorkloadsKubernetesLabels) {
  const auto me = static_cast<uint32_t>(getpid());
  ProcessCatalog catalog("/proc", [me](uint32_t pid) -> std::optional<K8sIdentity> {
    if (pid != me) return std::nullopt;
    return K8sIdentity{"ml", "trainer-0", "trainer", "gpu-node-1"};
  });
  prometheus::Registry registry;
  GpuAggregator agg(registry, catalog, GpuSources{}, GpuAggregatorOptions{});
  cuda_memcpy_event m{};
  m.hdr = {CUDA_EV_MEMCPY, CUDA_CALL_MEMCPY_HTOD, me, me, 1000};
  m.direction = 0;
  m.bytes = 4096;
  m.duration_ns = 1000;
  agg.OnCudaEvent(&m, sizeof(m));
  cuda_alloc_event a{};
  a.hdr = {CUDA_EV_ALLOC, CUDA_CALL_MEM_ALLOC, me, me, 2000};
  a.dptr = 0x1000;
  a.bytes = 500;
  agg.OnCudaEvent(&a, sizeof(a));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  const auto samples = testing::ParsePrometheusText(out.str());
  const std::map<std::string, std::string> pod = {{"k8s_namespace_name", "ml"},
                                                  {"k8s_pod_name", "trainer-0"},
                                                  {"k8s_container_name", "trainer"},
                                                  {"k8s_node_name", "gpu-node-1"}};
  EXPECT_EQ(SumSamples(samples, "zerotrace_gpu_memcpy_bytes_total", pod), 4096);
  EXPECT_EQ(SumSamples(samples, "zerotrace_gpu_memory_allocated_bytes", pod), 500);
  EXPECT_TRUE(testing::HasSample(samples, "zerotrace_gpu_memcpy_duration_seconds_count", pod));
}

}  // namespace
}  // namespace zerotrace::gpu

namespace zerotrace::gpu {
namespace {

TEST_F(GpuAggregatorTest, KernelsWithAKnownLaunchAreReportedToOnKernel) {
  std::vector<GpuKernelRun> seen;
  GpuAggregatorOptions o;
  o.on_kernel = [&](const GpuKernelRun& e) { seen.push_back(e); };
  Make(o);
  launches_[{kPid, 21}] = cupti_launch_info{500, 3, kPid + 5, 307, 1};
  Kernel("_Z6vecAddPKfS0_Pfi", 21, 1000, 1000, 9);
  Kernel("_Z6matMulPKfS0_Pfi", 22, 3000, 500);  // no launch record: nothing to attribute
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].tgid, kPid);
  EXPECT_EQ(seen[0].launch_tid, kPid + 5);
  EXPECT_EQ(seen[0].launch_ns, 500u);
  EXPECT_EQ(seen[0].start_ns, 1000u);
  EXPECT_EQ(seen[0].end_ns, 2000u);
  EXPECT_EQ(seen[0].kernel, "vecAdd");
  EXPECT_EQ(seen[0].stream, 9u);
  EXPECT_EQ(seen[0].correlation_id, 21u);
}

}  // namespace
}  // namespace zerotrace::gpu
