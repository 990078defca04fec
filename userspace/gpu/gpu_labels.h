#pragma once

// The label values of the GPU metrics' `kind` and `call` labels, from the probes' ABI enums:
// header-only so the GPU-machine tools (cupti/tools) name things exactly as the daemon does.

#include <cstdint>

#include "bpf/cuda.h"
#include "bpf/cupti.h"

namespace zerotrace::gpu {

// `kind` label of a CUPTI copy kind / a driver copy direction; `call` label of a driver sync
// call / a CUPTI synchronization type. "unknown" for anything else.
inline const char* MemcpyKindName(uint32_t kind) {
  switch (kind) {
    case CUPTI_ZT_MEMCPY_HTOD:
      return "HtoD";
    case CUPTI_ZT_MEMCPY_DTOH:
      return "DtoH";
    case CUPTI_ZT_MEMCPY_HTOA:
      return "HtoA";
    case CUPTI_ZT_MEMCPY_ATOH:
      return "AtoH";
    case CUPTI_ZT_MEMCPY_ATOA:
      return "AtoA";
    case CUPTI_ZT_MEMCPY_ATOD:
      return "AtoD";
    case CUPTI_ZT_MEMCPY_DTOA:
      return "DtoA";
    case CUPTI_ZT_MEMCPY_DTOD:
      return "DtoD";
    case CUPTI_ZT_MEMCPY_HTOH:
      return "HtoH";
    case CUPTI_ZT_MEMCPY_PTOP:
      return "PtoP";
    default:
      return "unknown";
  }
}

inline const char* DriverMemcpyKindName(uint32_t direction) {
  switch (direction) {
    case CUDA_MEMCPY_HTOD:
      return "HtoD";
    case CUDA_MEMCPY_DTOH:
      return "DtoH";
    case CUDA_MEMCPY_DTOD:
      return "DtoD";
    default:
      return "unknown";  // cuMemcpyAsync: unified addressing, the driver decides
  }
}

inline const char* SyncCallName(uint32_t call) {
  switch (call) {
    case CUDA_CALL_CTX_SYNCHRONIZE:
      return "context";
    case CUDA_CALL_STREAM_SYNCHRONIZE:
      return "stream";
    case CUDA_CALL_EVENT_SYNCHRONIZE:
      return "event";
    default:
      return "unknown";
  }
}

inline const char* CuptiSyncName(uint32_t type) {
  switch (type) {
    case 1:
      return "event";
    case 2:
      return "stream_wait_event";
    case 3:
      return "stream";
    case 4:
      return "context";
    default:
      return "unknown";
  }
}

}  // namespace zerotrace::gpu
