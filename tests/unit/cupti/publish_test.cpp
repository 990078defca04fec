// CUPTI record -> USDT struct conversion, the rate cap, and the no-tracer fast path.
#include <gtest/gtest.h>

#include <cstring>

#include "publish.h"
#include "rate_limiter.h"

namespace zerotrace::cupti {
namespace {

TEST(CuptiConvert, Kernel) {
  static const char kName[] = "_Z6vecAddPKfS0_Pfi";
  CUpti_ActivityKernel10 k;
  std::memset(&k, 0, sizeof(k));
  k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
  k.start = 1000;
  k.end = 3000;
  k.queued = CUPTI_TIMESTAMP_UNKNOWN;
  k.submitted = 900;
  k.deviceId = 2;
  k.contextId = 3;
  k.streamId = 4;
  k.correlationId = 55;
  k.gridX = 256;
  k.gridY = 2;
  k.gridZ = 1;
  k.blockX = 128;
  k.blockY = 1;
  k.blockZ = 1;
  k.staticSharedMemory = 16;
  k.dynamicSharedMemory = 1024;
  k.registersPerThread = 40;
  k.gridId = 77;
  k.graphId = 9;
  k.launchType = 1;
  k.isDeviceLaunched = 1;
  k.name = kName;
  cupti_kernel_record r;
  std::memset(&r, 0xAB, sizeof(r));
  ToKernelRecord(k, &r);
  EXPECT_EQ(r.start, 1000u);
  EXPECT_EQ(r.end, 3000u);
  EXPECT_EQ(r.queued, 0u);  // unknown timestamps become 0, not ~0
  EXPECT_EQ(r.submitted, 900u);
  EXPECT_EQ(r.device_id, 2u);
  EXPECT_EQ(r.context_id, 3u);
  EXPECT_EQ(r.stream_id, 4u);
  EXPECT_EQ(r.correlation_id, 55u);
  EXPECT_EQ(r.grid_x, 256);
  EXPECT_EQ(r.grid_y, 2);
  EXPECT_EQ(r.grid_z, 1);
  EXPECT_EQ(r.block_x, 128);
  EXPECT_EQ(r.static_shared_mem, 16);
  EXPECT_EQ(r.dynamic_shared_mem, 1024);
  EXPECT_EQ(r.registers_per_thread, 40u);
  EXPECT_EQ(r.grid_id, 77u);
  EXPECT_EQ(r.graph_id, 9u);
  EXPECT_EQ(r.launch_type, 1u);
  EXPECT_EQ(r.is_device_launched, 1u);
  EXPECT_EQ(reinterpret_cast<const char*>(r.name), kName);
  for (unsigned char b : r.pad) EXPECT_EQ(b, 0u);  // no stack garbage reaches the tracer
}

TEST(CuptiConvert, Memcpy) {
  CUpti_ActivityMemcpy6 m;
  std::memset(&m, 0, sizeof(m));
  m.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
  m.copyKind = CUPTI_ACTIVITY_MEMCPY_KIND_DTOH;
  m.srcKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  m.dstKind = CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE;
  m.flags = CUPTI_ACTIVITY_FLAG_MEMCPY_ASYNC;
  m.bytes = 4 << 20;
  m.start = 10;
  m.end = 20;
  m.deviceId = 1;
  m.contextId = 2;
  m.streamId = 3;
  m.correlationId = 4;
  cupti_memcpy_record r;
  ToMemcpyRecord(m, &r);
  EXPECT_EQ(r.copy_kind, CUPTI_ZT_MEMCPY_DTOH);
  EXPECT_EQ(r.copy_kind, static_cast<uint8_t>(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH));
  EXPECT_EQ(r.src_kind, static_cast<uint8_t>(CUPTI_ACTIVITY_MEMORY_KIND_DEVICE));
  EXPECT_EQ(r.dst_kind, static_cast<uint8_t>(CUPTI_ACTIVITY_MEMORY_KIND_PAGEABLE));
  EXPECT_EQ(r.flags, static_cast<uint8_t>(CUPTI_ACTIVITY_FLAG_MEMCPY_ASYNC));
  EXPECT_EQ(r.bytes, 4u << 20);
  EXPECT_EQ(r.start, 10u);
  EXPECT_EQ(r.end, 20u);
  EXPECT_EQ(r.device_id, 1u);
  EXPECT_EQ(r.context_id, 2u);
  EXPECT_EQ(r.stream_id, 3u);
  EXPECT_EQ(r.correlation_id, 4u);
}

TEST(CuptiConvert, MemcpyKindsMatchCupti) {
  // bpf/cupti.h repeats the CUPTI enum so BPF and the daemon need no CUDA headers.
  EXPECT_EQ(CUPTI_ZT_MEMCPY_HTOD, static_cast<int>(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD));
  EXPECT_EQ(CUPTI_ZT_MEMCPY_DTOH, static_cast<int>(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH));
  EXPECT_EQ(CUPTI_ZT_MEMCPY_DTOD, static_cast<int>(CUPTI_ACTIVITY_MEMCPY_KIND_DTOD));
  EXPECT_EQ(CUPTI_ZT_MEMCPY_HTOH, static_cast<int>(CUPTI_ACTIVITY_MEMCPY_KIND_HTOH));
  EXPECT_EQ(CUPTI_ZT_MEMCPY_PTOP, static_cast<int>(CUPTI_ACTIVITY_MEMCPY_KIND_PTOP));
}

TEST(CuptiConvert, Memset) {
  CUpti_ActivityMemset4 m;
  std::memset(&m, 0, sizeof(m));
  m.kind = CUPTI_ACTIVITY_KIND_MEMSET;
  m.value = 0xff;
  m.bytes = 1 << 20;
  m.start = 5;
  m.end = 6;
  m.streamId = 3;
  m.correlationId = 8;
  m.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  cupti_memset_record r;
  ToMemsetRecord(m, &r);
  EXPECT_EQ(r.value, 0xffu);
  EXPECT_EQ(r.bytes, 1u << 20);
  EXPECT_EQ(r.start, 5u);
  EXPECT_EQ(r.end, 6u);
  EXPECT_EQ(r.stream_id, 3u);
  EXPECT_EQ(r.correlation_id, 8u);
  EXPECT_EQ(r.memory_kind, static_cast<uint16_t>(CUPTI_ACTIVITY_MEMORY_KIND_DEVICE));
}

TEST(CuptiConvert, Memory) {
  CUpti_ActivityMemory4 m;
  std::memset(&m, 0, sizeof(m));
  m.kind = CUPTI_ACTIVITY_KIND_MEMORY2;
  m.memoryOperationType = CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION;
  m.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  m.address = 0x7f0000001000;
  m.bytes = 3 << 20;
  m.timestamp = 42;
  m.PC = 0x1234;
  m.deviceId = 1;
  m.correlationId = 9;
  m.isAsync = 1;
  cupti_memory_record r;
  ToMemoryRecord(m, &r);
  EXPECT_EQ(r.op, static_cast<uint32_t>(CUPTI_ZT_MEMORY_OP_ALLOC));
  EXPECT_EQ(r.address, 0x7f0000001000u);
  EXPECT_EQ(r.bytes, 3u << 20);
  EXPECT_EQ(r.timestamp, 42u);
  EXPECT_EQ(r.pc, 0x1234u);
  EXPECT_EQ(r.device_id, 1u);
  EXPECT_EQ(r.correlation_id, 9u);
  EXPECT_EQ(r.is_async, 1u);
  m.memoryOperationType = CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE;
  ToMemoryRecord(m, &r);
  EXPECT_EQ(r.op, static_cast<uint32_t>(CUPTI_ZT_MEMORY_OP_RELEASE));
  m.memoryOperationType = CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_INVALID;
  ToMemoryRecord(m, &r);
  EXPECT_EQ(r.op, static_cast<uint32_t>(CUPTI_ZT_MEMORY_OP_UNKNOWN));
}

TEST(CuptiConvert, Sync) {
  CUpti_ActivitySynchronization2 s;
  std::memset(&s, 0, sizeof(s));
  s.kind = CUPTI_ACTIVITY_KIND_SYNCHRONIZATION;
  s.type = CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE;
  s.start = 100;
  s.end = 20000100;
  s.contextId = 1;
  s.streamId = 0;
  s.correlationId = 12;
  s.cudaEventId = 3;
  s.returnValue = 0;
  cupti_sync_record r;
  ToSyncRecord(s, &r);
  EXPECT_EQ(r.type, static_cast<uint32_t>(CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE));
  EXPECT_EQ(r.end - r.start, 20000000u);
  EXPECT_EQ(r.context_id, 1u);
  EXPECT_EQ(r.correlation_id, 12u);
  EXPECT_EQ(r.cuda_event_id, 3u);
}

TEST(CuptiPublish, NothingHappensWithoutATracer) {
  // No tracer attached in a unit test: every semaphore is 0, so records are not even converted.
  EXPECT_FALSE(AnyRecordProbeEnabled());
  EXPECT_FALSE(LaunchProbeEnabled());
  CUpti_ActivityKernel10 k;
  std::memset(&k, 0, sizeof(k));
  k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
  EXPECT_FALSE(PublishActivity(reinterpret_cast<CUpti_Activity*>(&k)));
  CUpti_ActivityMemcpy6 m;
  std::memset(&m, 0, sizeof(m));
  m.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
  EXPECT_FALSE(PublishActivity(reinterpret_cast<CUpti_Activity*>(&m)));
  PublishLaunch(1, 2, 3);  // must be a no-op, not a crash
  PublishDropped(1, 2);
}

TEST(CuptiPublish, UnpublishedKindsAreIgnored) {
  CUpti_ActivityKernel10 k;
  std::memset(&k, 0, sizeof(k));
  k.kind = CUPTI_ACTIVITY_KIND_DRIVER;
  EXPECT_FALSE(PublishActivity(reinterpret_cast<CUpti_Activity*>(&k)));
}

TEST(CuptiRateLimiter, CapsPerOneSecondWindow) {
  RateLimiter l(3);
  const uint64_t s = 1'000'000'000ULL;
  EXPECT_TRUE(l.Allow(10 * s));
  EXPECT_TRUE(l.Allow(10 * s + 1));
  EXPECT_TRUE(l.Allow(10 * s + 2));
  EXPECT_FALSE(l.Allow(10 * s + 3));
  EXPECT_FALSE(l.Allow(11 * s - 1));
  EXPECT_EQ(l.skipped(), 2u);
  // A new window starts a second after the first record of the previous one.
  EXPECT_TRUE(l.Allow(11 * s));
  EXPECT_TRUE(l.Allow(11 * s + 5));
  EXPECT_TRUE(l.Allow(11 * s + 6));
  EXPECT_FALSE(l.Allow(11 * s + 7));
  EXPECT_EQ(l.skipped(), 3u);
}

TEST(CuptiRateLimiter, CountsEverySkippedRecord) {
  RateLimiter l(100);
  uint64_t allowed = 0;
  for (int i = 0; i < 1000; i++) allowed += l.Allow(5'000'000'000ULL + i) ? 1 : 0;
  EXPECT_EQ(allowed, 100u);
  EXPECT_EQ(l.skipped(), 900u);
}

TEST(CuptiRateLimiter, ZeroMeansUnlimited) {
  RateLimiter l(0);
  for (int i = 0; i < 100000; i++) ASSERT_TRUE(l.Allow(i));
  EXPECT_EQ(l.skipped(), 0u);
}

TEST(CuptiRateLimiter, ClockGoingBackwardsStartsANewWindow) {
  RateLimiter l(1);
  EXPECT_TRUE(l.Allow(5'000'000'000ULL));
  EXPECT_FALSE(l.Allow(5'000'000'001ULL));
  EXPECT_TRUE(l.Allow(1'000));
}

TEST(CuptiRateLimiter, ParsesEnvValue) {
  EXPECT_EQ(ParseMaxRecordsPerSec(nullptr, 7), 7u);
  EXPECT_EQ(ParseMaxRecordsPerSec("", 7), 7u);
  EXPECT_EQ(ParseMaxRecordsPerSec("5000", 7), 5000u);
  EXPECT_EQ(ParseMaxRecordsPerSec("0", 7), 0u);
  EXPECT_EQ(ParseMaxRecordsPerSec("12abc", 7), 7u);
  EXPECT_EQ(ParseMaxRecordsPerSec("-5", 7), 7u);
  EXPECT_EQ(kDefaultMaxRecordsPerSec, 100000u);
}

}  // namespace
}  // namespace zerotrace::cupti
