#include "publish.h"

#include <cstdlib>
#include <cstring>

#include "rate_limiter.h"

// USDT probes with semaphores: the tracer increments zerotrace_<probe>_semaphore when it attaches,
// so with no tracer every probe site is skipped before any record is formatted.
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

#define ZT_SEMAPHORE(probe)                                              \
  extern "C" {                                                           \
  __extension__ volatile unsigned short zerotrace_##probe##_semaphore    \
      __attribute__((unused, section(".probes"), visibility("hidden"))); \
  }
ZT_SEMAPHORE(kernel)
ZT_SEMAPHORE(memcpy)
ZT_SEMAPHORE(memset)
ZT_SEMAPHORE(memory)
ZT_SEMAPHORE(sync)
ZT_SEMAPHORE(launch)
ZT_SEMAPHORE(dropped)
#undef ZT_SEMAPHORE

#define ZT_ENABLED(probe) __builtin_expect(zerotrace_##probe##_semaphore != 0, 0)

namespace zerotrace::cupti {

namespace {

uint64_t PtrToU64(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

// Zeroes `out` (the padding reaches the tracer too) and copies the ids every record has.
template <typename Activity, typename Record>
void StartRecord(const Activity& in, Record* out) {
  std::memset(out, 0, sizeof(*out));
  out->context_id = in.contextId;
  out->stream_id = in.streamId;
  out->correlation_id = in.correlationId;
}

// The same for records of a timed GPU operation on a device.
template <typename Activity, typename Record>
void StartDeviceSpan(const Activity& in, Record* out) {
  StartRecord(in, out);
  out->start = in.start;
  out->end = in.end;
  out->device_id = in.deviceId;
}

}  // namespace

void ToKernelRecord(const CUpti_ActivityKernel10& in, cupti_kernel_record* out) {
  StartDeviceSpan(in, out);
  out->queued = in.queued == CUPTI_TIMESTAMP_UNKNOWN ? 0 : in.queued;
  out->submitted = in.submitted == CUPTI_TIMESTAMP_UNKNOWN ? 0 : in.submitted;
  out->grid_id = static_cast<uint64_t>(in.gridId);
  out->name = PtrToU64(in.name);
  out->grid_x = in.gridX;
  out->grid_y = in.gridY;
  out->grid_z = in.gridZ;
  out->block_x = in.blockX;
  out->block_y = in.blockY;
  out->block_z = in.blockZ;
  out->static_shared_mem = in.staticSharedMemory;
  out->dynamic_shared_mem = in.dynamicSharedMemory;
  out->registers_per_thread = in.registersPerThread;
  out->graph_id = in.graphId;
  out->launch_type = in.launchType;
  out->is_device_launched = in.isDeviceLaunched;
}

void ToMemcpyRecord(const CUpti_ActivityMemcpy6& in, cupti_memcpy_record* out) {
  StartDeviceSpan(in, out);
  out->bytes = in.bytes;
  out->copy_kind = in.copyKind;
  out->src_kind = in.srcKind;
  out->dst_kind = in.dstKind;
  out->flags = in.flags;
}

void ToMemsetRecord(const CUpti_ActivityMemset4& in, cupti_memset_record* out) {
  StartDeviceSpan(in, out);
  out->bytes = in.bytes;
  out->value = in.value;
  out->flags = in.flags;
  out->memory_kind = in.memoryKind;
}

void ToMemoryRecord(const CUpti_ActivityMemory4& in, cupti_memory_record* out) {
  StartRecord(in, out);
  out->timestamp = in.timestamp;
  out->address = in.address;
  out->bytes = in.bytes;
  out->pc = in.PC;
  out->device_id = in.deviceId;
  switch (in.memoryOperationType) {
    case CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION:
      out->op = CUPTI_ZT_MEMORY_OP_ALLOC;
      break;
    case CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE:
      out->op = CUPTI_ZT_MEMORY_OP_RELEASE;
      break;
    default:
      out->op = CUPTI_ZT_MEMORY_OP_UNKNOWN;
  }
  out->memory_kind = static_cast<uint32_t>(in.memoryKind);
  out->is_async = in.isAsync;
}

void ToSyncRecord(const CUpti_ActivitySynchronization2& in, cupti_sync_record* out) {
  StartRecord(in, out);
  out->start = in.start;
  out->end = in.end;
  out->type = static_cast<uint32_t>(in.type);
  out->cuda_event_id = in.cudaEventId;
  out->return_value = in.returnValue;
}

bool AnyRecordProbeEnabled() {
  return ZT_ENABLED(kernel) || ZT_ENABLED(memcpy) || ZT_ENABLED(memset) || ZT_ENABLED(memory) ||
         ZT_ENABLED(sync) || ZT_ENABLED(dropped);
}

bool LaunchProbeEnabled() { return ZT_ENABLED(launch); }

bool PublishActivity(const CUpti_Activity* record) {
  switch (record->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
      if (!ZT_ENABLED(kernel)) return false;
      cupti_kernel_record r;
      ToKernelRecord(*reinterpret_cast<const CUpti_ActivityKernel10*>(record), &r);
      DTRACE_PROBE1(zerotrace, kernel, &r);
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      if (!ZT_ENABLED(memcpy)) return false;
      cupti_memcpy_record r;
      ToMemcpyRecord(*reinterpret_cast<const CUpti_ActivityMemcpy6*>(record), &r);
      DTRACE_PROBE1(zerotrace, memcpy, &r);
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
      if (!ZT_ENABLED(memset)) return false;
      cupti_memset_record r;
      ToMemsetRecord(*reinterpret_cast<const CUpti_ActivityMemset4*>(record), &r);
      DTRACE_PROBE1(zerotrace, memset, &r);
      return true;
    }
    case CUPTI_ACTIVITY_KIND_MEMORY2: {
      if (!ZT_ENABLED(memory)) return false;
      cupti_memory_record r;
      ToMemoryRecord(*reinterpret_cast<const CUpti_ActivityMemory4*>(record), &r);
      DTRACE_PROBE1(zerotrace, memory, &r);
      return true;
    }
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
      if (!ZT_ENABLED(sync)) return false;
      cupti_sync_record r;
      ToSyncRecord(*reinterpret_cast<const CUpti_ActivitySynchronization2*>(record), &r);
      DTRACE_PROBE1(zerotrace, sync, &r);
      return true;
    }
    default:
      return false;
  }
}

void PublishLaunch(uint32_t correlation_id, uint32_t cbid, uint32_t domain) {
  if (!ZT_ENABLED(launch)) return;
  DTRACE_PROBE3(zerotrace, launch, correlation_id, cbid, domain);
}

void PublishDropped(uint64_t cupti_dropped_total, uint64_t rate_skipped_total) {
  if (!ZT_ENABLED(dropped)) return;
  DTRACE_PROBE2(zerotrace, dropped, cupti_dropped_total, rate_skipped_total);
}

uint64_t ParseMaxRecordsPerSec(const char* value, uint64_t fallback) {
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  unsigned long long v = std::strtoull(value, &end, 10);
  if (end == value || *end != '\0' || value[0] == '-') return fallback;
  return static_cast<uint64_t>(v);
}

}  // namespace zerotrace::cupti
