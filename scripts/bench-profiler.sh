#!/usr/bin/env bash
# CPU the on-CPU profiler itself uses while profiling every CPU of a busy machine.
#   scripts/bench-profiler.sh [BUILD_DIR] [SECONDS]      (needs root; default build, 60 s)
# Starts one burn_cpu per CPU (at least 2) so every CPU is busy, then profiles all processes at
# 49 Hz and at 99 Hz, polling and symbolizing every second as the daemon does, and prints the
# profiler's own user+system CPU and its BPF programs' run time as a share of one core.
set -euo pipefail

BUILD_DIR=${1:-build}
SECONDS_PER_RUN=${2:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [[ $EUID -ne 0 ]]; then
  echo "bench-profiler: needs root (BPF programs and perf events)" >&2
  exit 1
fi
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
fi
cmake --build "$BUILD_DIR" --target zt_profile_bench burn_cpu >/dev/null
BENCH=$(find "$BUILD_DIR" -name zt_profile_bench -type f -perm -u+x | head -1)
BURN=$(find "$BUILD_DIR/tests/testprogs" -name burn_cpu -type f -perm -u+x | head -1)

NCPU=$(nproc)
BURNERS=$(( NCPU < 2 ? 2 : NCPU ))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for _ in $(seq "$BURNERS"); do
  "$BURN" 0 >/dev/null &
  pids+=($!)
done

echo "machine: $(uname -r), $NCPU CPUs, $BURNERS x burn_cpu, ${SECONDS_PER_RUN}s per run"
for hz in 49 99; do
  "$BENCH" --hz "$hz" --seconds "$SECONDS_PER_RUN" --profile oncpu
done
