// Fires synthetic CUPTI activity records (the real CUPTI 13 structs) through the injector's publish
// path (cupti/src/publish.cpp: same USDT provider, probe names and semaphores), so the BPF and
// daemon side can be tested with no GPU. Numbers: cuda_expect.h.
// Usage: cupti_synthetic [--repeat N] [--no-wait]. Protocol: prints
// "ready <pid> <address of synthetic_launch_site>", waits for a line on stdin, publishes, prints
// "done", waits for another line or EOF, exits.
#include <cupti_activity.h>
#include <cupti_callbacks.h>
#include <cupti_driver_cbid.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda_expect.h"
#include "publish.h"

namespace {

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// Kernels take ZT_SYNTH_FIRST_CORRELATION, +1, ... in launch order; other records a separate range
// so tests can name the kernels' correlation ids directly.
uint32_t g_kernel_correlation = ZT_SYNTH_FIRST_CORRELATION;
uint32_t g_correlation = ZT_SYNTH_FIRST_CORRELATION + 100000;

// The launch probe fires here, like the injector's API-enter callback on the launching thread.
extern "C" __attribute__((noinline)) void synthetic_launch_site(uint32_t correlation) {
  zerotrace::cupti::PublishLaunch(correlation, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel,
                                  CUPTI_CB_DOMAIN_DRIVER_API);
  asm volatile("" ::: "memory");  // keep the frame: no tail call
}

void Kernel(const char* name, uint64_t* t, uint64_t dur, int32_t grid_xy, int32_t block_xy,
            bool two_d) {
  const uint32_t corr = g_kernel_correlation++;
  synthetic_launch_site(corr);
  CUpti_ActivityKernel10 k;
  std::memset(&k, 0, sizeof(k));
  k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
  k.start = *t;
  k.end = *t + dur;
  k.queued = CUPTI_TIMESTAMP_UNKNOWN;
  k.submitted = CUPTI_TIMESTAMP_UNKNOWN;
  k.deviceId = 0;
  k.contextId = 1;
  k.streamId = 7;
  k.gridX = grid_xy;
  k.gridY = two_d ? grid_xy : 1;
  k.gridZ = 1;
  k.blockX = block_xy;
  k.blockY = two_d ? block_xy : 1;
  k.blockZ = 1;
  k.registersPerThread = 32;
  k.correlationId = corr;
  k.gridId = corr;
  k.name = name;
  zerotrace::cupti::PublishActivity(reinterpret_cast<CUpti_Activity*>(&k));
  *t += dur + 1000;
}

void Memcpy(uint8_t copy_kind, uint64_t bytes, uint64_t* t) {
  CUpti_ActivityMemcpy6 m;
  std::memset(&m, 0, sizeof(m));
  m.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
  m.copyKind = copy_kind;
  m.bytes = bytes;
  m.start = *t;
  m.end = *t + ZT_SYNTH_MEMCPY_NS;
  m.contextId = 1;
  m.streamId = 7;
  m.correlationId = g_correlation++;
  zerotrace::cupti::PublishActivity(reinterpret_cast<CUpti_Activity*>(&m));
  *t += ZT_SYNTH_MEMCPY_NS + 1000;
}

void Memory(CUpti_ActivityMemoryOperationType op, uint64_t address, uint64_t bytes, uint64_t* t) {
  CUpti_ActivityMemory4 m;
  std::memset(&m, 0, sizeof(m));
  m.kind = CUPTI_ACTIVITY_KIND_MEMORY2;
  m.memoryOperationType = op;
  m.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  m.address = address;
  m.bytes = bytes;
  m.timestamp = *t;
  m.processId = static_cast<uint32_t>(getpid());
  m.contextId = 1;
  m.correlationId = g_correlation++;
  zerotrace::cupti::PublishActivity(reinterpret_cast<CUpti_Activity*>(&m));
  *t += 1000;
}

void Sync(CUpti_ActivitySynchronizationType type, uint64_t* t) {
  CUpti_ActivitySynchronization2 s;
  std::memset(&s, 0, sizeof(s));
  s.kind = CUPTI_ACTIVITY_KIND_SYNCHRONIZATION;
  s.type = type;
  s.start = *t;
  s.end = *t + ZT_SYNTH_SYNC_NS;
  s.contextId = 1;
  s.streamId = type == CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE ? 7 : 0;
  s.correlationId = g_correlation++;
  zerotrace::cupti::PublishActivity(reinterpret_cast<CUpti_Activity*>(&s));
  *t += ZT_SYNTH_SYNC_NS + 1000;
}

void RunOnce() {
  uint64_t t = NowNs();
  const uint64_t base = 0x7f0000000000ULL;
  Memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, base, ZT_CUDA_ALLOC_A_BYTES, &t);
  Memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, base + 0x1000000, ZT_CUDA_ALLOC_B_BYTES,
         &t);
  Memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, base + 0x2000000, ZT_CUDA_ALLOC_C_BYTES,
         &t);
  Memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION, base + 0x3000000, ZT_CUDA_LEAK_BYTES, &t);
  Memcpy(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, ZT_CUDA_ALLOC_A_BYTES, &t);
  Memcpy(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD, ZT_CUDA_ALLOC_B_BYTES, &t);
  for (int i = 0; i < ZT_CUDA_VECADD_LAUNCHES; i++) {
    Kernel(ZT_CUDA_VECADD_NAME, &t, ZT_SYNTH_VECADD_NS, ZT_CUDA_VECADD_GRID, ZT_CUDA_VECADD_BLOCK,
           false);
  }
  for (int i = 0; i < ZT_CUDA_MATMUL_LAUNCHES; i++) {
    Kernel(ZT_CUDA_MATMUL_NAME, &t, ZT_SYNTH_MATMUL_NS, ZT_CUDA_MATMUL_GRID, ZT_CUDA_MATMUL_BLOCK,
           true);
  }
  CUpti_ActivityMemset4 ms;
  std::memset(&ms, 0, sizeof(ms));
  ms.kind = CUPTI_ACTIVITY_KIND_MEMSET;
  ms.bytes = ZT_SYNTH_MEMSET_BYTES;
  ms.start = t;
  ms.end = t + 50000;
  ms.contextId = 1;
  ms.streamId = 7;
  ms.correlationId = g_correlation++;
  zerotrace::cupti::PublishActivity(reinterpret_cast<CUpti_Activity*>(&ms));
  t += 60000;
  for (int i = 0; i < ZT_CUDA_CTX_SYNCS; i++) {
    Sync(CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE, &t);
  }
  Sync(CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE, &t);
  Memcpy(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH, ZT_CUDA_DTOH_BYTES, &t);
  Memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, base, ZT_CUDA_ALLOC_A_BYTES, &t);
  Memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, base + 0x1000000, ZT_CUDA_ALLOC_B_BYTES, &t);
  Memory(CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE, base + 0x2000000, ZT_CUDA_ALLOC_C_BYTES, &t);
}

void WaitLine() {
  char line[64];
  if (std::fgets(line, sizeof(line), stdin) == nullptr) return;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1;
  bool wait = true;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--no-wait") {
      wait = false;
    } else {
      std::fprintf(stderr, "usage: cupti_synthetic [--repeat N] [--no-wait]\n");
      return 2;
    }
  }
  // The launch site's address lets a test find it in a user stack without a symbolizer.
  std::printf("ready %d %p\n", static_cast<int>(getpid()),
              reinterpret_cast<void*>(&synthetic_launch_site));
  std::fflush(stdout);
  if (wait) WaitLine();
  for (int i = 0; i < repeat; i++) RunOnce();
  zerotrace::cupti::PublishDropped(ZT_SYNTH_DROPPED_CUPTI, ZT_SYNTH_DROPPED_RATE);
  std::printf("done\n");
  std::fflush(stdout);
  if (wait) WaitLine();
  return 0;
}
