/* What tests/testprogs/cuda/cuda_workload and cupti_synthetic do, so tests assert against the same
 * numbers the programs use. Plain C: usable from C and C++ tests. */
#pragma once

#define ZT_CUDA_MIB (1024ULL * 1024ULL)

/* Kernels (mangled names, as the driver and CUPTI report them). */
#define ZT_CUDA_VECADD_NAME "_Z6vecAddPKfS0_Pfi"
#define ZT_CUDA_MATMUL_NAME "_Z6matMulPKfS0_Pfi"
#define ZT_CUDA_VECADD_LAUNCHES 3 /* cuLaunchKernel */
#define ZT_CUDA_MATMUL_LAUNCHES 2 /* cuLaunchKernelEx */
#define ZT_CUDA_VECADD_GRID 256u  /* grid (256,1,1), block (256,1,1) */
#define ZT_CUDA_VECADD_BLOCK 256u
#define ZT_CUDA_MATMUL_GRID 16u   /* grid (16,16,1), block (16,16,1) */
#define ZT_CUDA_MATMUL_BLOCK 16u
/* cuda_workload only: one kernel the CUDA 12+ runtime way (cuLibraryLoadData,
 * cuLibraryGetKernel, cuKernelGetFunction, then cuLaunchKernel with that CUfunction),
 * grid (64,1,1), block (128,1,1). */
#define ZT_CUDA_REDUCE_NAME "_Z9reduceSumPKfPfi"
#define ZT_CUDA_REDUCE_LAUNCHES 1
#define ZT_CUDA_REDUCE_GRID 64u
#define ZT_CUDA_REDUCE_BLOCK 128u

/* Device allocations (cuMemAlloc_v2): a, b, c are freed; the leak is allocated in
 * leaky_allocation_site() and never freed. */
#define ZT_CUDA_ALLOC_A_BYTES (1 * ZT_CUDA_MIB)
#define ZT_CUDA_ALLOC_B_BYTES (2 * ZT_CUDA_MIB)
#define ZT_CUDA_ALLOC_C_BYTES (4 * ZT_CUDA_MIB)
#define ZT_CUDA_LEAK_BYTES (3 * ZT_CUDA_MIB)
#define ZT_CUDA_ALLOCS 4
#define ZT_CUDA_FREES 3
#define ZT_CUDA_LEAK_FUNCTION "leaky_allocation_site"

/* Copies. Sync: HtoD a + b, DtoH c, DtoD a->c (1 MiB). Async: HtoD 64 KiB, DtoH 64 KiB. */
#define ZT_CUDA_HTOD_BYTES (ZT_CUDA_ALLOC_A_BYTES + ZT_CUDA_ALLOC_B_BYTES)
#define ZT_CUDA_DTOH_BYTES ZT_CUDA_ALLOC_C_BYTES
#define ZT_CUDA_DTOD_BYTES ZT_CUDA_ALLOC_A_BYTES
#define ZT_CUDA_ASYNC_COPY_BYTES (64 * 1024ULL)

/* Synchronisation: each call of the fake driver sleeps ZT_FAKE_CUDA_SYNC_MS (env overrides). */
#define ZT_CUDA_CTX_SYNCS 2
#define ZT_CUDA_STREAM_SYNCS 1
#define ZT_CUDA_EVENT_SYNCS 1
#define ZT_FAKE_CUDA_SYNC_MS 20

/* cupti_synthetic: one CUPTI record per launch above, GPU durations below; correlation ids start
 * at ZT_SYNTH_FIRST_CORRELATION and the launch probe fires from synthetic_launch_site(). */
#define ZT_SYNTH_FIRST_CORRELATION 1000u
#define ZT_SYNTH_VECADD_NS 1000000ULL /* 1 ms */
#define ZT_SYNTH_MATMUL_NS 5000000ULL /* 5 ms */
#define ZT_SYNTH_MEMCPY_NS 200000ULL  /* 0.2 ms per copy record */
#define ZT_SYNTH_MEMSET_BYTES (1 * ZT_CUDA_MIB)
#define ZT_SYNTH_SYNC_NS 20000000ULL  /* 20 ms per sync record */
#define ZT_SYNTH_DROPPED_CUPTI 7ULL   /* values of the final zerotrace:dropped */
#define ZT_SYNTH_DROPPED_RATE 0ULL
#define ZT_SYNTH_LAUNCH_FUNCTION "synthetic_launch_site"
