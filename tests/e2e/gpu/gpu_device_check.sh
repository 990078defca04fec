#!/usr/bin/env bash
# On a GPU machine: the real driver and the real CUPTI injector through zt_gpu (GpuTracing) with
# zt_gpu_trace. Builds the program of scripts/gpu-e2e.sh (vecAdd x3, matMul x2 per iteration,
# copies, a memset, a 3 MiB leak in leaky_allocation_site) and the injector, runs the program
# under zt_gpu_trace and checks metrics, the leak, the GPU flamegraph and the Chrome trace.
# Env: ZT_GPU_TRACE (the tool; default build-gpu-dev/zt_gpu_trace with build-gpu-dev/lib on the
# library path), CUDA_HOME, OUT (output dir). Exit 0 when every check passed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BIN=${ZT_GPU_TRACE:-$ROOT/build-gpu-dev/zt_gpu_trace}
[ -d "$ROOT/build-gpu-dev/lib" ] && export LD_LIBRARY_PATH=$ROOT/build-gpu-dev/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
OUT=${OUT:-$(mktemp -d /tmp/zt-gpu-check.XXXXXX)}
WORK=$(mktemp -d /tmp/zt-gpu-work.XXXXXX)
FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
die() { echo "gpu_device_check: $*" >&2; exit 2; }

nvidia-smi -L 2>/dev/null
head -1 /etc/os-release; ldd --version | head -1
ldd "$BIN" | grep "not found" && die "$BIN: missing libraries"
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")")}
NVCC=$CUDA_HOME/bin/nvcc
[ -x "$NVCC" ] || die "nvcc not found"
CUPTI_INC=""; for d in "$CUDA_HOME/include" "$CUDA_HOME/extras/CUPTI/include"; do
  [ -f "$d/cupti.h" ] && CUPTI_INC=$d && break; done
CUPTI_LIB=""; for d in "$CUDA_HOME/lib64" "$CUDA_HOME/extras/CUPTI/lib64" "$CUDA_HOME/targets/x86_64-linux/lib"; do
  ls "$d"/libcupti.so* >/dev/null 2>&1 && CUPTI_LIB=$d && break; done
[ -n "$CUPTI_INC" ] && [ -n "$CUPTI_LIB" ] || die "CUPTI not found under $CUDA_HOME"

sed -n "/^cat > \"\$WORK\/gpu_e2e.cu\" <<'CU'/,/^CU\$/p" "$ROOT/scripts/gpu-e2e.sh" | sed '1d;$d' \
  > "$WORK/gpu_e2e.cu"
"$NVCC" -O2 -g -Xcompiler -fno-omit-frame-pointer -o "$WORK/gpu_e2e" "$WORK/gpu_e2e.cu" ||
  die "nvcc failed"
SDT_INC=""
echo '#include <sys/sdt.h>' | g++ -E -x c++ - >/dev/null 2>&1 || SDT_INC="-I$ROOT/cupti/third_party"
INJ=$WORK/libzerotrace_cupti.so
g++ -std=c++20 -O2 -g -fPIC -shared -fvisibility=hidden -I"$ROOT" -I"$ROOT/cupti/src" $SDT_INC \
  -isystem "$CUPTI_INC" -isystem "$CUDA_HOME/include" "$ROOT/cupti/src/publish.cpp" \
  "$ROOT/cupti/src/injection.cpp" -L"$CUPTI_LIB" -lcupti -Wl,-rpath,"$CUPTI_LIB" \
  -Wl,--no-undefined -Wl,-z,nodelete -lpthread -o "$INJ" || die "building the injector failed"
LIBCUDA=$(readlink -f "$(ldconfig -p | awk '/libcuda\.so\.1 /{print $NF; exit}')")
[ -f "$LIBCUDA" ] || die "libcuda.so.1 not found"
echo "libcuda: $LIBCUDA"

ITERS=${ITERS:-1}
"$BIN" --libcuda "$LIBCUDA" --injector "$INJ" --out "$OUT" -- "$WORK/gpu_e2e" "$ITERS" \
  >"$OUT/zt_gpu_trace.out" 2>"$OUT/zt_gpu_trace.err"
rc=$?
cat "$OUT/zt_gpu_trace.err" "$OUT/zt_gpu_trace.out"
[ $rc -eq 0 ] && pass "gpu_e2e ran under zt_gpu_trace" || fail "exit $rc"
M=$OUT/gpu_metrics.txt
metric() { grep -E "^$1\{.*$2.*\} " "$M" | awk '{s += $NF} END {print s + 0}'; }
[ "$(metric zerotrace_gpu_kernel_duration_seconds_count 'kernel="vecAdd"')" = $((3 * ITERS)) ] &&
  pass "vecAdd kernel records" || fail "vecAdd kernel records: $(metric zerotrace_gpu_kernel_duration_seconds_count 'kernel="vecAdd"')"
[ "$(metric zerotrace_gpu_kernel_duration_seconds_count 'kernel="matMul"')" = $((2 * ITERS)) ] &&
  pass "matMul kernel records" || fail "matMul kernel records"
[ "$(metric zerotrace_gpu_kernel_launches_total '')" -ge $((5 * ITERS)) ] &&
  pass "driver launch uprobes: $(metric zerotrace_gpu_kernel_launches_total '')" ||
  fail "driver launch uprobes: $(metric zerotrace_gpu_kernel_launches_total '')"
[ "$(metric zerotrace_gpu_memcpy_bytes_total 'kind="HtoD"')" = 3145728 ] && pass "HtoD bytes" ||
  fail "HtoD bytes $(metric zerotrace_gpu_memcpy_bytes_total 'kind="HtoD"')"
[ "$(metric zerotrace_gpu_memcpy_bytes_total 'kind="DtoH"')" = 4194304 ] && pass "DtoH bytes" ||
  fail "DtoH bytes $(metric zerotrace_gpu_memcpy_bytes_total 'kind="DtoH"')"
grep -q "leaky_allocation_site" "$OUT/zt_gpu_trace.out" && grep -q "GPU kernels by GPU time" "$OUT/zt_gpu_trace.out" && pass "leak stack names leaky_allocation_site" ||
  fail "leak site not in the leak report"
grep -q '\[gpu\] vecAdd' "$OUT/gpu.folded" && grep -q '\[gpu\] matMul' "$OUT/gpu.folded" &&
  pass "GPU flamegraph has both kernels" || fail "GPU flamegraph"
grep -q ';main;' "$OUT/gpu.folded" && pass "launch stacks reach main" || fail "launch stacks lack main"
python3 - "$OUT/gpu_trace.json" <<'PY' && pass "Chrome trace: kernels and flows" || fail "Chrome trace"
import json, sys
t = json.load(open(sys.argv[1]))["traceEvents"]
k = [e for e in t if e.get("ph") == "X" and e.get("cat") == "gpu" and e["name"] in ("vecAdd", "matMul")]
s = [e for e in t if e.get("ph") == "s"]; f = [e for e in t if e.get("ph") == "f"]
print("trace: %d events, %d kernels, %d flow starts, %d flow ends" % (len(t), len(k), len(s), len(f)))
sys.exit(0 if k and s and len(s) == len(f) else 1)
PY
echo "gpu_device_check: $FAILS failure(s); outputs in $OUT"
exit $((FAILS > 0))
