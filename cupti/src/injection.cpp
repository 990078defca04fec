// libzerotrace_cupti.so: CUDA injection library (CUDA_INJECTION64_PATH). The driver calls
// InitializeInjection() from cuInit; we subscribe to CUPTI, collect activity records and publish
// them through the USDT probes of publish.cpp. Activity collection is switched on only while a
// tracer is attached to those probes, so an unobserved application pays for almost nothing.
#include <cupti.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "publish.h"
#include "rate_limiter.h"

namespace zerotrace::cupti {
namespace {

constexpr size_t kBufferBytes = 4 << 20;  // few large buffers: fewer completion callbacks
constexpr size_t kBufferAlign = 8;        // CUPTI requires 8-byte aligned buffers

constexpr CUpti_ActivityKind kActivityKinds[] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
    CUPTI_ACTIVITY_KIND_MEMCPY,
    CUPTI_ACTIVITY_KIND_MEMSET,
    CUPTI_ACTIVITY_KIND_MEMORY2,
    CUPTI_ACTIVITY_KIND_SYNCHRONIZATION,
};

constexpr CUpti_CallbackId kDriverLaunchCbids[] = {
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel_ptsz,
};

constexpr CUpti_CallbackId kRuntimeLaunchCbids[] = {
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_ptsz_v7000,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_v11060,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernelExC_ptsz_v11060,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchCooperativeKernel_v9000,
    CUPTI_RUNTIME_TRACE_CBID_cudaLaunchCooperativeKernel_ptsz_v9000,
    CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_v13000,
    CUPTI_RUNTIME_TRACE_CBID___cudaLaunchKernel_ptsz_v13000,
};

// ZEROTRACE_CUPTI_STATS=1: a per-process summary on stderr at exit, so the CUPTI half can be
// checked on a GPU machine with no tracer attached (scripts/gpu-e2e.sh). Off in production.
struct Stats {
  struct Kernel {
    uint64_t count = 0;
    uint64_t gpu_ns = 0;
  };
  std::map<std::string, Kernel> kernels;
  std::map<unsigned, std::pair<uint64_t, uint64_t>> memcpy_by_kind;  // count, bytes
  uint64_t memsets = 0, memset_bytes = 0;
  uint64_t allocs = 0, alloc_bytes = 0, releases = 0, release_bytes = 0;
  uint64_t syncs = 0, sync_ns = 0;
  uint64_t first_kernel_start = 0, last_kernel_end = 0;
  std::atomic<uint64_t> launch_callbacks{0};
};

struct State {
  CUpti_SubscriberHandle subscriber = nullptr;
  std::mutex records_mu;  // serialises buffer processing: RateLimiter is single-threaded
  RateLimiter limiter{kDefaultMaxRecordsPerSec};
  std::atomic<uint64_t> cupti_dropped{0};
  std::atomic<bool> activity_on{false};
  std::mutex control_mu;
  std::condition_variable control_cv;
  bool stopping = false;
  std::thread control;
  uint32_t poll_ms = 500;
  uint32_t flush_ms = 1000;
  bool always_on = false;
  Stats* stats = nullptr;  // non-null only with ZEROTRACE_CUPTI_STATS=1
};

// Leaked on purpose: CUPTI may call back during process teardown. Atomic: the launch callback can
// run on application threads while Initialize() is still publishing it.
std::atomic<State*> g_state{nullptr};
std::once_flag g_init_once;

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// CUPTI's timestamp source: CLOCK_MONOTONIC is what bpf_ktime_get_ns reads, so GPU intervals and
// CPU-side BPF events share one time axis without conversion.
uint64_t CUPTIAPI TimestampCallback() { return MonotonicNs(); }

uint32_t EnvU32(const char* name, uint32_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  unsigned long x = std::strtoul(v, &end, 10);
  return (end != v && *end == '\0') ? static_cast<uint32_t>(x) : fallback;
}

// Called with records_mu held, for every record (before the rate cap) when stats are on.
void Tally(Stats* s, const CUpti_Activity* r) {
  switch (r->kind) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
    case CUPTI_ACTIVITY_KIND_KERNEL: {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(r);
      auto& e = s->kernels[k->name ? k->name : "?"];
      ++e.count;
      e.gpu_ns += k->end - k->start;
      if (s->first_kernel_start == 0 || k->start < s->first_kernel_start) {
        s->first_kernel_start = k->start;
      }
      if (k->end > s->last_kernel_end) s->last_kernel_end = k->end;
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(r);
      auto& e = s->memcpy_by_kind[m->copyKind];
      ++e.first;
      e.second += m->bytes;
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
      ++s->memsets;
      s->memset_bytes += reinterpret_cast<const CUpti_ActivityMemset4*>(r)->bytes;
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMORY2: {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemory4*>(r);
      if (m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION) {
        ++s->allocs;
        s->alloc_bytes += m->bytes;
      } else if (m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE) {
        ++s->releases;
        s->release_bytes += m->bytes;
      }
      break;
    }
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
      const auto* y = reinterpret_cast<const CUpti_ActivitySynchronization2*>(r);
      ++s->syncs;
      s->sync_ns += y->end - y->start;
      break;
    }
    default:
      break;
  }
}

const char* MemcpyKindName(unsigned kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD:
      return "HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH:
      return "DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD:
      return "DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH:
      return "HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP:
      return "PtoP";
    default:
      return "other";
  }
}

void PrintStats(State* st) {
  std::lock_guard<std::mutex> lock(st->records_mu);
  const Stats& s = *st->stats;
  const char* p = "zerotrace-cupti-stats:";
  for (const auto& [name, k] : s.kernels) {
    std::fprintf(stderr, "%s kernel name=%s count=%llu gpu_ns=%llu\n", p, name.c_str(),
                 static_cast<unsigned long long>(k.count),
                 static_cast<unsigned long long>(k.gpu_ns));
  }
  for (const auto& [kind, cb] : s.memcpy_by_kind) {
    std::fprintf(stderr, "%s memcpy kind=%s count=%llu bytes=%llu\n", p, MemcpyKindName(kind),
                 static_cast<unsigned long long>(cb.first),
                 static_cast<unsigned long long>(cb.second));
  }
  std::fprintf(stderr, "%s memset count=%llu bytes=%llu\n", p,
               static_cast<unsigned long long>(s.memsets),
               static_cast<unsigned long long>(s.memset_bytes));
  std::fprintf(stderr, "%s memory allocs=%llu alloc_bytes=%llu releases=%llu release_bytes=%llu\n",
               p, static_cast<unsigned long long>(s.allocs),
               static_cast<unsigned long long>(s.alloc_bytes),
               static_cast<unsigned long long>(s.releases),
               static_cast<unsigned long long>(s.release_bytes));
  std::fprintf(stderr, "%s sync count=%llu ns=%llu\n", p, static_cast<unsigned long long>(s.syncs),
               static_cast<unsigned long long>(s.sync_ns));
  std::fprintf(stderr, "%s launch_callbacks=%llu\n", p,
               static_cast<unsigned long long>(s.launch_callbacks.load()));
  std::fprintf(stderr, "%s dropped cupti=%llu rate_skipped=%llu\n", p,
               static_cast<unsigned long long>(st->cupti_dropped.load()),
               static_cast<unsigned long long>(st->limiter.skipped()));
  // GPU times must be on CLOCK_MONOTONIC: the kernels ran in this process, before now.
  std::fprintf(stderr, "%s clock first_kernel_start=%llu last_kernel_end=%llu now=%llu\n", p,
               static_cast<unsigned long long>(s.first_kernel_start),
               static_cast<unsigned long long>(s.last_kernel_end),
               static_cast<unsigned long long>(MonotonicNs()));
}

const char* ResultString(CUptiResult r) {
  const char* s = nullptr;
  if (cuptiGetResultString(r, &s) != CUPTI_SUCCESS || s == nullptr) return "unknown CUPTI error";
  return s;
}

void CUPTIAPI BufferRequested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kBufferAlign, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void CUPTIAPI BufferCompleted(CUcontext ctx, uint32_t stream_id, uint8_t* buffer, size_t /*size*/,
                              size_t valid_size) {
  State* st = g_state.load(std::memory_order_acquire);
  if (st != nullptr && valid_size > 0) {
    std::lock_guard<std::mutex> lock(st->records_mu);
    CUpti_Activity* record = nullptr;
    const uint64_t now = MonotonicNs();
    while (cuptiActivityGetNextRecord(buffer, valid_size, &record) == CUPTI_SUCCESS) {
      if (st->stats != nullptr) Tally(st->stats, record);
      if (st->limiter.Allow(now)) PublishActivity(record);
    }
    size_t dropped = 0;
    if (cuptiActivityGetNumDroppedRecords(ctx, stream_id, &dropped) == CUPTI_SUCCESS &&
        dropped > 0) {
      st->cupti_dropped.fetch_add(dropped, std::memory_order_relaxed);
    }
    PublishDropped(st->cupti_dropped.load(std::memory_order_relaxed), st->limiter.skipped());
  }
  std::free(buffer);
}

void CUPTIAPI ApiCallback(void* /*userdata*/, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                          const void* data) {
  const auto* cb = static_cast<const CUpti_CallbackData*>(data);
  if (cb->callbackSite != CUPTI_API_ENTER) return;
  if (State* st = g_state.load(std::memory_order_acquire); st != nullptr && st->stats != nullptr) {
    st->stats->launch_callbacks.fetch_add(1, std::memory_order_relaxed);
  }
  PublishLaunch(cb->correlationId, cbid, static_cast<uint32_t>(domain));
}

void SetActivity(State* st, bool on) {
  for (CUpti_ActivityKind kind : kActivityKinds) {
    // A kind this device/driver lacks (e.g. MEMORY2 on old drivers) must not stop the others.
    if (on) {
      cuptiActivityEnable(kind);
    } else {
      cuptiActivityDisable(kind);
    }
  }
  st->activity_on.store(on, std::memory_order_relaxed);
}

// Polls the probe semaphores: activity collection (the part with real GPU-side overhead) runs only
// while a tracer is attached, and its buffers are flushed periodically so records reach the tracer
// within about flush_ms.
void ControlLoop(State* st) {
  auto last_flush = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(st->control_mu);
  while (!st->stopping) {
    st->control_cv.wait_for(lock, std::chrono::milliseconds(st->poll_ms));
    if (st->stopping) break;
    const bool want = st->always_on || AnyRecordProbeEnabled();
    const bool on = st->activity_on.load(std::memory_order_relaxed);
    if (want && !on) {
      SetActivity(st, true);
    } else if (!want && on) {
      SetActivity(st, false);
      cuptiActivityFlushAll(0);
    }
    const auto now = std::chrono::steady_clock::now();
    if (want && now - last_flush >= std::chrono::milliseconds(st->flush_ms)) {
      lock.unlock();
      cuptiActivityFlushAll(0);
      lock.lock();
      last_flush = now;
    }
  }
}

void AtExit() {
  State* st = g_state.load(std::memory_order_acquire);
  if (st == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(st->control_mu);
    st->stopping = true;
  }
  st->control_cv.notify_all();
  if (st->control.joinable()) st->control.join();
  if (st->activity_on.load(std::memory_order_relaxed)) {
    cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  }
  if (st->stats != nullptr) PrintStats(st);
}

void StepAside(State* st, const char* what, CUptiResult r) {
  if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
    std::fprintf(stderr,
                 "zerotrace-cupti: another CUPTI subscriber is active (Nsight, a framework "
                 "profiler...); GPU tracing disabled, the application continues\n");
  } else if (access("/proc/driver/nvidia/version", F_OK) != 0) {
    // CUPTI reports a missing driver as a generic error; say what is actually wrong.
    std::fprintf(stderr,
                 "zerotrace-cupti: no NVIDIA driver loaded (%s: %s); GPU tracing disabled, the "
                 "application continues\n",
                 what, ResultString(r));
  } else {
    std::fprintf(stderr,
                 "zerotrace-cupti: %s failed: %s; GPU tracing disabled, the application "
                 "continues\n",
                 what, ResultString(r));
  }
  if (st->subscriber != nullptr) {
    cuptiUnsubscribe(st->subscriber);
    st->subscriber = nullptr;
  }
}

void Initialize() {
  auto* st = new State();
  st->limiter = RateLimiter(ParseMaxRecordsPerSec(
      std::getenv("ZEROTRACE_CUPTI_MAX_RECORDS_PER_SEC"), kDefaultMaxRecordsPerSec));
  st->poll_ms = EnvU32("ZEROTRACE_CUPTI_POLL_MS", 500);
  st->flush_ms = EnvU32("ZEROTRACE_CUPTI_FLUSH_MS", 1000);
  st->always_on = EnvU32("ZEROTRACE_CUPTI_ALWAYS_ON", 0) != 0;
  if (st->poll_ms == 0) st->poll_ms = 500;
  if (EnvU32("ZEROTRACE_CUPTI_STATS", 0) != 0) {
    st->stats = new Stats();
    st->always_on = true;
  }

  CUptiResult r = cuptiSubscribe(&st->subscriber, ApiCallback, nullptr);
  if (r != CUPTI_SUCCESS) {
    st->subscriber = nullptr;
    StepAside(st, "cuptiSubscribe", r);
    return;
  }
  // The timestamp source must be set before any activity kind is enabled.
  if ((r = cuptiActivityRegisterTimestampCallback(TimestampCallback)) != CUPTI_SUCCESS) {
    StepAside(st, "cuptiActivityRegisterTimestampCallback", r);
    return;
  }
  if ((r = cuptiActivityRegisterCallbacks(BufferRequested, BufferCompleted)) != CUPTI_SUCCESS) {
    StepAside(st, "cuptiActivityRegisterCallbacks", r);
    return;
  }
  for (CUpti_CallbackId cbid : kDriverLaunchCbids) {
    cuptiEnableCallback(1, st->subscriber, CUPTI_CB_DOMAIN_DRIVER_API, cbid);
  }
  for (CUpti_CallbackId cbid : kRuntimeLaunchCbids) {
    cuptiEnableCallback(1, st->subscriber, CUPTI_CB_DOMAIN_RUNTIME_API, cbid);
  }
  g_state.store(st, std::memory_order_release);
  // A tracer that attached before the library was mapped has already set the semaphores: collect
  // from the first kernel instead of waiting for the first poll.
  if (st->always_on || AnyRecordProbeEnabled()) SetActivity(st, true);
  st->control = std::thread(ControlLoop, st);
  std::atexit(AtExit);
}

}  // namespace
}  // namespace zerotrace::cupti

// Entry point looked up by the CUDA driver in the library named by CUDA_INJECTION64_PATH. Always
// reports success: a profiler problem must never fail the application's cuInit.
extern "C" __attribute__((visibility("default"))) int InitializeInjection(void) {
  std::call_once(zerotrace::cupti::g_init_once, zerotrace::cupti::Initialize);
  return 1;
}
