/* Test-only libcuda.so.1: the real driver API signatures (from cuda.h) with trivial bodies, so the
 * uprobes of bpf/cuda.bpf.c can be tested on machines with no GPU. Device memory is host memory;
 * synchronisation calls sleep a known time so wait-time assertions mean something. Every entry
 * point is noinline and exported under the driver's versioned symbol (cuMemAlloc_v2, ...). */
#include <cuda.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZT_API __attribute__((noinline, visibility("default"), used))

struct fake_function {
  char name[256];
};

static unsigned sync_ms(void)
{
  const char *v = getenv("ZT_FAKE_CUDA_SYNC_MS");
  return v && *v ? (unsigned)strtoul(v, NULL, 10) : 20u;
}

static void sleep_ms(unsigned ms)
{
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* The real driver loads CUDA_INJECTION64_PATH in cuInit and calls its InitializeInjection; do the
 * same so the injector's load path runs without a GPU (CUPTI then finds no real driver and the
 * injector must step aside). Opt-in with ZT_FAKE_CUDA_INJECT=1: CUPTI is not built for a fake. */
static void maybe_inject(void)
{
  const char *path = getenv("CUDA_INJECTION64_PATH");
  const char *want = getenv("ZT_FAKE_CUDA_INJECT");
  if (!path || !*path || !want || strcmp(want, "1") != 0)
    return;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "fake libcuda: cannot load %s: %s\n", path, dlerror());
    return;
  }
  int (*init)(void) = (int (*)(void))dlsym(h, "InitializeInjection");
  if (init)
    init();
}

ZT_API CUresult cuInit(unsigned int flags)
{
  (void)flags;
  static int initialized;
  if (!initialized) {
    initialized = 1;
    maybe_inject();
  }
  return CUDA_SUCCESS;
}

ZT_API CUresult cuDriverGetVersion(int *version)
{
  *version = CUDA_VERSION;
  return CUDA_SUCCESS;
}

ZT_API CUresult cuDeviceGetCount(int *count)
{
  *count = 1;
  return CUDA_SUCCESS;
}

ZT_API CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *device = 0;
  return CUDA_SUCCESS;
}

ZT_API CUresult cuCtxCreate(CUcontext *pctx, CUctxCreateParams *params, unsigned int flags,
                            CUdevice dev)
{
  (void)params;
  (void)flags;
  (void)dev;
  *pctx = (CUcontext)calloc(1, 64);
  return *pctx ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

ZT_API CUresult cuCtxDestroy(CUcontext ctx)
{
  free(ctx);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
  (void)image;
  *module = (CUmodule)calloc(1, 64);
  return *module ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

ZT_API CUresult cuModuleUnload(CUmodule module)
{
  free(module);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
  if (!hmod || !name)
    return CUDA_ERROR_INVALID_VALUE;
  struct fake_function *f = calloc(1, sizeof(*f));
  if (!f)
    return CUDA_ERROR_OUT_OF_MEMORY;
  snprintf(f->name, sizeof(f->name), "%s", name);
  *hfunc = (CUfunction)f;
  return CUDA_SUCCESS;
}

/* Shared by both launch entry points: cuLaunchKernelEx must not call the exported cuLaunchKernel,
 * or a uprobe on it would count every Ex launch twice (the real driver does not do that either). */
static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                       unsigned by, unsigned bz)
{
  if (!f || !gx || !gy || !gz || !bx || !by || !bz)
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

/* CUDA 12+ runtime path: libraries and context-independent kernels. */
ZT_API CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                                  void **jitOptionsValues, unsigned int numJitOptions,
                                  CUlibraryOption *libraryOptions, void **libraryOptionValues,
                                  unsigned int numLibraryOptions)
{
  (void)code;
  (void)jitOptions;
  (void)jitOptionsValues;
  (void)numJitOptions;
  (void)libraryOptions;
  (void)libraryOptionValues;
  (void)numLibraryOptions;
  *library = (CUlibrary)calloc(1, 64);
  return *library ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

ZT_API CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
  if (!library || !name)
    return CUDA_ERROR_INVALID_VALUE;
  struct fake_function *k = calloc(1, sizeof(*k));
  if (!k)
    return CUDA_ERROR_OUT_OF_MEMORY;
  snprintf(k->name, sizeof(k->name), "%s", name);
  *pKernel = (CUkernel)k;
  return CUDA_SUCCESS;
}

/* A distinct CUfunction handle per call, as the real driver has one per context. */
ZT_API CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
  if (!kernel)
    return CUDA_ERROR_INVALID_VALUE;
  struct fake_function *f = calloc(1, sizeof(*f));
  if (!f)
    return CUDA_ERROR_OUT_OF_MEMORY;
  memcpy(f, kernel, sizeof(*f));
  *pFunc = (CUfunction)f;
  return CUDA_SUCCESS;
}

ZT_API CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                               unsigned int gridDimZ, unsigned int blockDimX,
                               unsigned int blockDimY, unsigned int blockDimZ,
                               unsigned int sharedMemBytes, CUstream hStream, void **kernelParams,
                               void **extra)
{
  (void)hStream;
  (void)kernelParams;
  (void)extra;
  (void)sharedMemBytes;
  return launch(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ);
}

ZT_API CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams,
                                 void **extra)
{
  (void)kernelParams;
  (void)extra;
  if (!config)
    return CUDA_ERROR_INVALID_VALUE;
  return launch(f, config->gridDimX, config->gridDimY, config->gridDimZ, config->blockDimX,
                config->blockDimY, config->blockDimZ);
}

ZT_API CUresult cuMemAlloc(CUdeviceptr *dptr, size_t bytesize)
{
  void *p = malloc(bytesize ? bytesize : 1);
  if (!p)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *dptr = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
  (void)hStream;
  void *p = malloc(bytesize ? bytesize : 1);
  if (!p)
    return CUDA_ERROR_OUT_OF_MEMORY;
  *dptr = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemFree(CUdeviceptr dptr)
{
  free((void *)(uintptr_t)dptr);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
  (void)hStream;
  free((void *)(uintptr_t)dptr);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t bytes)
{
  memcpy((void *)(uintptr_t)dst, src, bytes);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t bytes)
{
  memcpy(dst, (const void *)(uintptr_t)src, bytes);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemcpyDtoD(CUdeviceptr dst, CUdeviceptr src, size_t bytes)
{
  memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, bytes);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream hStream)
{
  (void)hStream;
  memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, bytes);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t bytes,
                                  CUstream hStream)
{
  (void)hStream;
  memcpy((void *)(uintptr_t)dst, src, bytes);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuMemcpyDtoHAsync(void *dst, CUdeviceptr src, size_t bytes, CUstream hStream)
{
  (void)hStream;
  memcpy(dst, (const void *)(uintptr_t)src, bytes);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuStreamCreate(CUstream *phStream, unsigned int flags)
{
  (void)flags;
  *phStream = (CUstream)calloc(1, 64);
  return *phStream ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

ZT_API CUresult cuStreamDestroy(CUstream hStream)
{
  free(hStream);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuEventCreate(CUevent *phEvent, unsigned int flags)
{
  (void)flags;
  *phEvent = (CUevent)calloc(1, 64);
  return *phEvent ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

ZT_API CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
  (void)hEvent;
  (void)hStream;
  return CUDA_SUCCESS;
}

ZT_API CUresult cuEventDestroy(CUevent hEvent)
{
  free(hEvent);
  return CUDA_SUCCESS;
}

ZT_API CUresult cuCtxSynchronize(void)
{
  sleep_ms(sync_ms());
  return CUDA_SUCCESS;
}

ZT_API CUresult cuStreamSynchronize(CUstream hStream)
{
  (void)hStream;
  sleep_ms(sync_ms());
  return CUDA_SUCCESS;
}

ZT_API CUresult cuEventSynchronize(CUevent hEvent)
{
  (void)hEvent;
  sleep_ms(sync_ms());
  return CUDA_SUCCESS;
}

ZT_API CUresult cuGetErrorString(CUresult error, const char **pStr)
{
  *pStr = error == CUDA_SUCCESS ? "no error" : "fake libcuda error";
  return CUDA_SUCCESS;
}
