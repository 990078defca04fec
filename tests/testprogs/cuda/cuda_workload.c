/* Known CUDA driver API sequence for the cuda probe tests (see cuda_expect.h for the numbers).
 * Loads libcuda.so.1 with dlopen like the CUDA runtime does: argv[1], else $ZT_LIBCUDA_PATH, else
 * the fake built beside it (ZT_FAKE_LIBCUDA_PATH), else "libcuda.so.1".
 * Protocol: prints "ready <pid> <address of leaky_allocation_site>", waits for a line on stdin
 * ("go"), runs, prints "done", then waits for another line or EOF before exiting so a test can
 * still read /proc/<pid>/maps to symbolize stacks. */
#include <cuda.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_expect.h"

#define NOINLINE __attribute__((noinline))

static struct {
  CUresult (*Init)(unsigned);
  CUresult (*DeviceGet)(CUdevice *, int);
  CUresult (*CtxCreate)(CUcontext *, CUctxCreateParams *, unsigned, CUdevice);
  CUresult (*ModuleLoadData)(CUmodule *, const void *);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*LibraryLoadData)(CUlibrary *, const void *, CUjit_option *, void **, unsigned,
                              CUlibraryOption *, void **, unsigned);
  CUresult (*LibraryGetKernel)(CUkernel *, CUlibrary, const char *);
  CUresult (*KernelGetFunction)(CUfunction *, CUkernel);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, CUstream, void **, void **);
  CUresult (*LaunchKernelEx)(const CUlaunchConfig *, CUfunction, void **, void **);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*StreamCreate)(CUstream *, unsigned);
  CUresult (*EventCreate)(CUevent *, unsigned);
  CUresult (*EventRecord)(CUevent, CUstream);
  CUresult (*CtxSynchronize)(void);
  CUresult (*StreamSynchronize)(CUstream);
  CUresult (*EventSynchronize)(CUevent);
} cu;

static void *sym(void *lib, const char *name)
{
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "cuda_workload: missing %s\n", name);
    exit(1);
  }
  return p;
}

#define CHECK(call)                                                       \
  do {                                                                    \
    CUresult r_ = (call);                                                 \
    if (r_ != CUDA_SUCCESS) {                                             \
      fprintf(stderr, "cuda_workload: %s failed: %d\n", #call, (int)r_); \
      exit(1);                                                            \
    }                                                                     \
  } while (0)

/* Distinct frames so stack assertions can name them. */
NOINLINE CUdeviceptr leaky_allocation_site(void)
{
  CUdeviceptr p = 0;
  CHECK(cu.MemAlloc(&p, ZT_CUDA_LEAK_BYTES));
  return p; /* never freed: the leak the tests look for */
}

NOINLINE void launch_vecadd(CUfunction f, CUstream s)
{
  for (int i = 0; i < ZT_CUDA_VECADD_LAUNCHES; i++)
    CHECK(cu.LaunchKernel(f, ZT_CUDA_VECADD_GRID, 1, 1, ZT_CUDA_VECADD_BLOCK, 1, 1, 0, s, NULL,
                          NULL));
}

NOINLINE void launch_matmul(CUfunction f, CUstream s)
{
  CUlaunchConfig cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.gridDimX = cfg.gridDimY = ZT_CUDA_MATMUL_GRID;
  cfg.gridDimZ = 1;
  cfg.blockDimX = cfg.blockDimY = ZT_CUDA_MATMUL_BLOCK;
  cfg.blockDimZ = 1;
  cfg.sharedMemBytes = 1024;
  cfg.hStream = s;
  for (int i = 0; i < ZT_CUDA_MATMUL_LAUNCHES; i++)
    CHECK(cu.LaunchKernelEx(&cfg, f, NULL, NULL));
}

static void wait_line(void)
{
  char line[64];
  if (!fgets(line, sizeof(line), stdin))
    return;
}

int main(int argc, char **argv)
{
  const char *path = argc > 1 ? argv[1] : getenv("ZT_LIBCUDA_PATH");
#ifdef ZT_FAKE_LIBCUDA_PATH
  if (!path || !*path)
    path = ZT_FAKE_LIBCUDA_PATH;
#endif
  if (!path || !*path)
    path = "libcuda.so.1";
  void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    fprintf(stderr, "cuda_workload: dlopen %s: %s\n", path, dlerror());
    return 1;
  }
  cu.Init = sym(lib, "cuInit");
  cu.DeviceGet = sym(lib, "cuDeviceGet");
  cu.CtxCreate = sym(lib, "cuCtxCreate_v4");
  cu.ModuleLoadData = sym(lib, "cuModuleLoadData");
  cu.ModuleGetFunction = sym(lib, "cuModuleGetFunction");
  cu.LibraryLoadData = sym(lib, "cuLibraryLoadData");
  cu.LibraryGetKernel = sym(lib, "cuLibraryGetKernel");
  cu.KernelGetFunction = sym(lib, "cuKernelGetFunction");
  cu.LaunchKernel = sym(lib, "cuLaunchKernel");
  cu.LaunchKernelEx = sym(lib, "cuLaunchKernelEx");
  cu.MemAlloc = sym(lib, "cuMemAlloc_v2");
  cu.MemFree = sym(lib, "cuMemFree_v2");
  cu.MemcpyHtoD = sym(lib, "cuMemcpyHtoD_v2");
  cu.MemcpyDtoH = sym(lib, "cuMemcpyDtoH_v2");
  cu.MemcpyDtoD = sym(lib, "cuMemcpyDtoD_v2");
  cu.MemcpyHtoDAsync = sym(lib, "cuMemcpyHtoDAsync_v2");
  cu.MemcpyDtoHAsync = sym(lib, "cuMemcpyDtoHAsync_v2");
  cu.StreamCreate = sym(lib, "cuStreamCreate");
  cu.EventCreate = sym(lib, "cuEventCreate");
  cu.EventRecord = sym(lib, "cuEventRecord");
  cu.CtxSynchronize = sym(lib, "cuCtxSynchronize");
  cu.StreamSynchronize = sym(lib, "cuStreamSynchronize");
  cu.EventSynchronize = sym(lib, "cuEventSynchronize");

  /* The leak site's address lets a test find it in a user stack without a symbolizer. */
  printf("ready %d %p\n", (int)getpid(), (void *)leaky_allocation_site);
  fflush(stdout);
  wait_line();

  CUdevice dev;
  CUcontext ctx;
  CUmodule mod;
  CUfunction vecadd, matmul;
  CUstream stream;
  CUevent event;
  CHECK(cu.Init(0));
  CHECK(cu.DeviceGet(&dev, 0));
  CHECK(cu.CtxCreate(&ctx, NULL, 0, dev));
  CHECK(cu.ModuleLoadData(&mod, "zerotrace fake module"));
  CHECK(cu.ModuleGetFunction(&vecadd, mod, ZT_CUDA_VECADD_NAME));
  CHECK(cu.ModuleGetFunction(&matmul, mod, ZT_CUDA_MATMUL_NAME));
  CHECK(cu.StreamCreate(&stream, 0));
  CHECK(cu.EventCreate(&event, 0));

  CUdeviceptr a, b, c;
  CHECK(cu.MemAlloc(&a, ZT_CUDA_ALLOC_A_BYTES));
  CHECK(cu.MemAlloc(&b, ZT_CUDA_ALLOC_B_BYTES));
  CHECK(cu.MemAlloc(&c, ZT_CUDA_ALLOC_C_BYTES));
  CUdeviceptr leak = leaky_allocation_site();
  (void)leak;

  char *host = calloc(1, ZT_CUDA_ALLOC_C_BYTES);
  if (!host)
    return 1;
  CHECK(cu.MemcpyHtoD(a, host, ZT_CUDA_ALLOC_A_BYTES));
  CHECK(cu.MemcpyHtoD(b, host, ZT_CUDA_ALLOC_B_BYTES));
  CHECK(cu.MemcpyDtoD(c, a, ZT_CUDA_DTOD_BYTES));
  CHECK(cu.MemcpyHtoDAsync(a, host, ZT_CUDA_ASYNC_COPY_BYTES, stream));

  launch_vecadd(vecadd, stream);
  launch_matmul(matmul, stream);

  CUlibrary library;
  CUkernel reduce_kernel;
  CUfunction reduce;
  CHECK(cu.LibraryLoadData(&library, "zerotrace fake library", NULL, NULL, 0, NULL, NULL, 0));
  CHECK(cu.LibraryGetKernel(&reduce_kernel, library, ZT_CUDA_REDUCE_NAME));
  CHECK(cu.KernelGetFunction(&reduce, reduce_kernel));
  for (int i = 0; i < ZT_CUDA_REDUCE_LAUNCHES; i++)
    CHECK(cu.LaunchKernel(reduce, ZT_CUDA_REDUCE_GRID, 1, 1, ZT_CUDA_REDUCE_BLOCK, 1, 1, 0, stream,
                          NULL, NULL));

  for (int i = 0; i < ZT_CUDA_CTX_SYNCS; i++)
    CHECK(cu.CtxSynchronize());
  CHECK(cu.MemcpyDtoH(host, c, ZT_CUDA_DTOH_BYTES));
  CHECK(cu.MemcpyDtoHAsync(host, a, ZT_CUDA_ASYNC_COPY_BYTES, stream));
  CHECK(cu.StreamSynchronize(stream));
  CHECK(cu.EventRecord(event, stream));
  CHECK(cu.EventSynchronize(event));

  CHECK(cu.MemFree(a));
  CHECK(cu.MemFree(b));
  CHECK(cu.MemFree(c));
  free(host);

  printf("done\n");
  fflush(stdout);
  wait_line();
  return 0;
}
