// CUPTI activity record -> USDT publication. Shared by the injector (libzerotrace_cupti.so) and the
// test program cupti_synthetic, so synthetic records take exactly the injector's path.
#pragma once

#include <cupti_activity.h>

#include <cstdint>

#include "bpf/cupti.h"

namespace zerotrace::cupti {

// Conversions from the CUPTI 13 record versions (the ones CUPTI fills for the enabled kinds) to
// the layouts of bpf/cupti.h. Pure: unit-tested without a GPU.
void ToKernelRecord(const CUpti_ActivityKernel10& in, cupti_kernel_record* out);
void ToMemcpyRecord(const CUpti_ActivityMemcpy6& in, cupti_memcpy_record* out);
void ToMemsetRecord(const CUpti_ActivityMemset4& in, cupti_memset_record* out);
void ToMemoryRecord(const CUpti_ActivityMemory4& in, cupti_memory_record* out);
void ToSyncRecord(const CUpti_ActivitySynchronization2& in, cupti_sync_record* out);

// True when a tracer has attached to any of the record probes (their semaphores are non-zero).
bool AnyRecordProbeEnabled();
bool LaunchProbeEnabled();

// Publishes one activity record through its USDT probe. Returns false (and does nothing) for kinds
// we do not publish or when nobody listens on that probe; the semaphore is checked before the
// record is converted, so an unattached process pays one load per record.
bool PublishActivity(const CUpti_Activity* record);

// Fired on the launching thread from the launch API-enter callback.
void PublishLaunch(uint32_t correlation_id, uint32_t cbid, uint32_t domain);

// Cumulative totals for the process.
void PublishDropped(uint64_t cupti_dropped_total, uint64_t rate_skipped_total);

}  // namespace zerotrace::cupti
