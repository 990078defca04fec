#!/usr/bin/env bash
# GPU end-to-end check of the CUDA/CUPTI path (docs/cuda.md). Needs a GPU, nvcc and CUPTI.
#  1. builds a small CUDA program (kernels vecAdd x3, matMul x2, memcpys, memset, a leak);
#  2. builds libzerotrace_cupti.so (or uses $ZT_BUILD_DIR/cupti's) and checks its USDT notes;
#  3. runs the program with the injector in stats mode and asserts kernel names/counts/bytes and
#     that GPU timestamps are on CLOCK_MONOTONIC;
#  4. if zt_cupti_trace is there and BPF works: the full CUPTI -> USDT -> BPF path, with launch
#     stacks; if `zerotrace run` exists: the daemon's GPU metrics;
#  5. prints the program's runtime without the injector, with it idle, and with it collecting.
# Exit 0 when every check that could run passed. Env: CUDA_HOME, ZT_BUILD_DIR, GPU_E2E_ITERS.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${ZT_BUILD_DIR:-$ROOT/build}
WORK=${GPU_E2E_WORK:-$(mktemp -d /tmp/zt-gpu-e2e.XXXXXX)}
ITERS=${GPU_E2E_ITERS:-2000}
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
skip() { echo "SKIP: $*"; }
die() { echo "gpu-e2e: $*" >&2; exit 2; }

# ---- toolchain ---------------------------------------------------------------------------------
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")}
NVCC=$CUDA_HOME/bin/nvcc
[ -x "$NVCC" ] || die "nvcc not found (set CUDA_HOME)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
CUPTI_INC=""
for d in "$CUDA_HOME/include" "$CUDA_HOME/extras/CUPTI/include"; do
  [ -f "$d/cupti.h" ] && CUPTI_INC=$d && break
done
CUPTI_LIB=""
for d in "$CUDA_HOME/lib64" "$CUDA_HOME/extras/CUPTI/lib64" "$CUDA_HOME/lib" \
         "$CUDA_HOME/targets/x86_64-linux/lib"; do
  ls "$d"/libcupti.so* >/dev/null 2>&1 && CUPTI_LIB=$d && break
done
[ -n "$CUPTI_INC" ] && [ -n "$CUPTI_LIB" ] || die "CUPTI headers/library not found under $CUDA_HOME"
echo "gpu-e2e: CUDA $CUDA_HOME, CUPTI include $CUPTI_INC lib $CUPTI_LIB, work dir $WORK"

# ---- the CUDA program --------------------------------------------------------------------------
cat > "$WORK/gpu_e2e.cu" <<'CU'
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { \
  std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e)); std::exit(1); } } while (0)
__global__ void vecAdd(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}
__global__ void matMul(const float* a, const float* b, float* c, int n) {
  int r = blockIdx.y * blockDim.y + threadIdx.y, col = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < n && col < n) { float s = 0; for (int k = 0; k < n; k++) s += a[r * n + k] * b[k * n + col]; c[r * n + col] = s; }
}
__attribute__((noinline)) void* leaky_allocation_site() {
  void* p = nullptr; CK(cudaMalloc(&p, 3 << 20)); return p;  // never freed
}
int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 1;
  const int n = 1 << 18, m = 256;
  float *a, *b, *c;
  CK(cudaMalloc(&a, 1 << 20)); CK(cudaMalloc(&b, 2 << 20)); CK(cudaMalloc(&c, 4 << 20));
  leaky_allocation_site();
  static char host[4 << 20];
  CK(cudaMemcpy(a, host, 1 << 20, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(b, host, 2 << 20, cudaMemcpyHostToDevice));
  CK(cudaMemset(c, 0, 1 << 20));
  cudaStream_t s; CK(cudaStreamCreate(&s));
  for (int it = 0; it < iters; it++) {
    for (int i = 0; i < 3; i++) vecAdd<<<n / 1024, 256, 0, s>>>(a, b, c, n / 4);
    for (int i = 0; i < 2; i++) matMul<<<dim3(m / 16, m / 16), dim3(16, 16), 0, s>>>(a, b, c, m);
  }
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  CK(cudaDeviceSynchronize());
  CK(cudaStreamSynchronize(s));
  CK(cudaMemcpy(host, c, 4 << 20, cudaMemcpyDeviceToHost));
  CK(cudaFree(a)); CK(cudaFree(b)); CK(cudaFree(c));
  std::printf("gpu_e2e done iters=%d\n", iters);
  return 0;
}
CU
"$NVCC" -O2 -g -Xcompiler -fno-omit-frame-pointer -o "$WORK/gpu_e2e" "$WORK/gpu_e2e.cu" ||
  die "nvcc failed"
pass "built gpu_e2e"

# ---- the injector ------------------------------------------------------------------------------
INJ=$BUILD/cupti/libzerotrace_cupti.so
if [ ! -f "$INJ" ]; then
  INJ=$WORK/libzerotrace_cupti.so
  SDT_INC=""
  echo '#include <sys/sdt.h>' | ${CXX:-g++} -E -x c++ - >/dev/null 2>&1 ||
    SDT_INC="-I$ROOT/cupti/third_party"
  ${CXX:-g++} -std=c++20 -O2 -g -fPIC -shared -fvisibility=hidden -Wall -Wextra -Werror \
    -Wno-missing-field-initializers -I"$ROOT" -I"$ROOT/cupti/src" $SDT_INC -isystem "$CUPTI_INC" \
    -isystem "$CUDA_HOME/include" "$ROOT/cupti/src/publish.cpp" "$ROOT/cupti/src/injection.cpp" \
    -L"$CUPTI_LIB" -lcupti -Wl,-rpath,"$CUPTI_LIB" -Wl,--no-undefined -Wl,-z,nodelete -lpthread \
    -o "$INJ" || die "building libzerotrace_cupti.so failed"
fi
pass "injector $INJ"
NOTES=$(readelf -n "$INJ" 2>/dev/null)
for p in kernel memcpy memset memory sync launch dropped; do
  if echo "$NOTES" | grep -A2 "Provider: zerotrace" | grep -q "Name: $p\$"; then
    sem=$(echo "$NOTES" | grep -A3 "Name: $p\$" | grep -o 'Semaphore: 0x[0-9a-f]*' | head -1)
    [ "$sem" != "Semaphore: 0x0000000000000000" ] && [ -n "$sem" ] &&
      pass "USDT zerotrace:$p ($sem)" || fail "USDT zerotrace:$p has no semaphore"
  else
    fail "USDT zerotrace:$p missing from readelf -n"
  fi
done

# ---- injector in stats mode: CUPTI half on a real GPU -----------------------------------------
expect_line() {  # file, regex, description
  if grep -Eq "$2" "$1"; then pass "$3"; else fail "$3 (no line matching '$2')"; fi
}
CUDA_INJECTION64_PATH=$INJ ZEROTRACE_CUPTI_STATS=1 "$WORK/gpu_e2e" 1 >"$WORK/stats.out" \
  2>"$WORK/stats.err"
rc=$?
cat "$WORK/stats.err"
[ $rc -eq 0 ] && pass "gpu_e2e ran with the injector" || fail "gpu_e2e exit $rc with the injector"
S=$WORK/stats.err
if grep -q '^zerotrace-cupti:' "$S"; then
  fail "injector stepped aside: $(grep '^zerotrace-cupti:' "$S")"
fi
expect_line "$S" 'kernel name=_Z6vecAddPKfS0_Pfi count=3 ' "3 vecAdd kernel records"
expect_line "$S" 'kernel name=_Z6matMulPKfS0_Pfi count=2 ' "2 matMul kernel records"
expect_line "$S" 'memcpy kind=HtoD count=2 bytes=3145728$' "HtoD 3 MiB in 2 copies"
expect_line "$S" 'memcpy kind=DtoH count=1 bytes=4194304$' "DtoH 4 MiB in 1 copy"
expect_line "$S" 'memset count=1 bytes=1048576$' "memset 1 MiB"
expect_line "$S" 'memory allocs=[4-9][0-9]* alloc_bytes=' "MEMORY2 allocation records"
expect_line "$S" 'sync count=[1-9]' "synchronization records"
expect_line "$S" 'launch_callbacks=([5-9]|[1-9][0-9]+)$' "launch callbacks fired"
if line=$(grep -o 'clock first_kernel_start=[0-9]* last_kernel_end=[0-9]* now=[0-9]*' "$S"); then
  read -r first last now < <(echo "$line" | sed 's/[a-z_]*=//g; s/clock //')
  if [ "$first" -gt 0 ] && [ "$last" -le "$now" ] && [ $((now - first)) -lt 60000000000 ]; then
    pass "GPU timestamps on CLOCK_MONOTONIC (first kernel $(((now - first) / 1000000)) ms before exit)"
  else
    fail "GPU timestamps not CLOCK_MONOTONIC-like: $line"
  fi
else
  fail "no clock line"
fi

# ---- full path through BPF ---------------------------------------------------------------------
TRACE=${ZT_CUPTI_TRACE:-$BUILD/cupti/zt_cupti_trace}
if [ -x "$TRACE" ] && [ "$(id -u)" = 0 ]; then
  "$TRACE" "$INJ" -- env ZEROTRACE_CUPTI_POLL_MS=50 "$WORK/gpu_e2e" 1 >"$WORK/trace.out" \
    2>"$WORK/trace.err"
  rc=$?
  cat "$WORK/trace.out" "$WORK/trace.err"
  T=$WORK/trace.out
  if [ $rc -eq 0 ]; then
    expect_line "$T" 'kernel name=_Z6vecAddPKfS0_Pfi count=3 ' "BPF: 3 vecAdd kernels"
    expect_line "$T" 'kernel name=_Z6matMulPKfS0_Pfi count=2 ' "BPF: 2 matMul kernels"
    expect_line "$T" 'memcpy kind=HtoD count=2 bytes=3145728$' "BPF: HtoD 3 MiB"
    expect_line "$T" 'memcpy kind=DtoH count=1 bytes=4194304$' "BPF: DtoH 4 MiB"
    expect_line "$T" 'kernels_with_launch_stack=5$' "BPF: every kernel has its launch stack"
  else
    fail "zt_cupti_trace exit $rc (BPF unavailable here?)"
  fi
else
  skip "zt_cupti_trace not built or not root: BPF path not checked (USDT notes checked above)"
fi

ZT=$BUILD/userspace/cli/zerotrace
if [ -x "$ZT" ] && [ "$(id -u)" = 0 ]; then
  "$ZT" run --listen 127.0.0.1:19464 >"$WORK/daemon.log" 2>&1 &
  dpid=$!
  sleep 3
  CUDA_INJECTION64_PATH=$INJ "$WORK/gpu_e2e" 1 >/dev/null 2>&1
  sleep 3
  if curl -fsS http://127.0.0.1:19464/metrics >"$WORK/metrics.txt" 2>/dev/null; then
    grep -E '^zerotrace_gpu_' "$WORK/metrics.txt" | head -20
    grep -q '^zerotrace_gpu_kernel_duration_seconds' "$WORK/metrics.txt" &&
      pass "daemon exports zerotrace_gpu_kernel_duration_seconds" ||
      fail "daemon has no zerotrace_gpu_kernel_duration_seconds"
  else
    skip "daemon /metrics not reachable (see $WORK/daemon.log)"
  fi
  kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null
else
  skip "no $ZT: daemon not checked"
fi

# ---- runtime with and without the injector -----------------------------------------------------
# Best of 3 wall-clock runs, in seconds (awk: bc is not everywhere).
best() {
  local b="" s e v
  for _ in 1 2 3; do
    s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
    v=$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    if [ -z "$b" ] || awk -v x="$v" -v y="$b" 'BEGIN { exit !(x < y) }'; then b=$v; fi
  done
  echo "$b"
}
echo "runtime of gpu_e2e $ITERS (5 kernels per iteration), best of 3:"
echo "  no injector:                    $(best "$WORK/gpu_e2e" "$ITERS") s"
echo "  injector, no tracer (idle):     $(best env CUDA_INJECTION64_PATH="$INJ" "$WORK/gpu_e2e" "$ITERS") s"
echo "  injector collecting (stats):    $(best env CUDA_INJECTION64_PATH="$INJ" ZEROTRACE_CUPTI_STATS=1 "$WORK/gpu_e2e" "$ITERS") s"
if [ -x "$TRACE" ] && [ "$(id -u)" = 0 ]; then
  echo "  injector + BPF tracer:          $(best "$TRACE" "$INJ" -- "$WORK/gpu_e2e" "$ITERS") s"
fi

echo "gpu-e2e: $FAILS failure(s)"
[ $FAILS -eq 0 ]
