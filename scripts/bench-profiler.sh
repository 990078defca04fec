#!/usr/bin/env bash
# CPU the on-CPU profiler itself uses while profiling every CPU of a busy machine.
#   scripts/bench-profiler.sh [BUILD_DIR] [SECONDS]      (needs root; default build, 60 s)
#   ZT_SPAWN_RATE=50 scripts/bench-profiler.sh ...       (also start 50 new processes a second)
# Starts one burn_cpu per CPU (at least 2) so every CPU is busy, then profiles all processes at
# 49 Hz and at 99 Hz, polling and symbolizing every second as the daemon does, and prints the
# profiler's own user+system CPU and its BPF programs' run time as a share of one core.
# With ZT_SPAWN_RATE=N, N short-lived processes start every second meanwhile, alternately a
# python3 (-c, ~20 ms of CPU, 30+ files mapped) and a dash loop (~5 ms): each sampled one is
# new to the profiler (maps read, unwind tables described, symbols resolved): a CI runner's or
# a cron-heavy host's load. The spawner's own CPU is not counted.
set -euo pipefail

BUILD_DIR=${1:-build}
SECONDS_PER_RUN=${2:-60}
SPAWN_RATE=${ZT_SPAWN_RATE:-0}
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

if [[ "$SPAWN_RATE" -gt 0 ]]; then
  /usr/bin/python3 - "$SPAWN_RATE" <<'PY' &
import subprocess, sys, time
rate = int(sys.argv[1])
cmds = [["/usr/bin/python3", "-c", "sum(i * i for i in range(100000))"],
        ["/bin/sh", "-c", "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done"]]
procs, n, start = [], 0, time.monotonic()
while True:
    procs.append(subprocess.Popen(cmds[n % 2], stdout=subprocess.DEVNULL))
    n += 1
    procs = [p for p in procs if p.poll() is None]
    time.sleep(max(0.0, start + n / rate - time.monotonic()))
PY
  pids+=($!)
fi
echo "machine: $(uname -r), $NCPU CPUs, $BURNERS x burn_cpu, ${SPAWN_RATE} new processes/s, ${SECONDS_PER_RUN}s per run"
forks() { awk '/^processes/ {print $2}' /proc/stat; }
for hz in 49 99; do
  before=$(forks)
  "$BENCH" --hz "$hz" --seconds "$SECONDS_PER_RUN" --profile oncpu
  echo "  processes started meanwhile: $(( ($(forks) - before) / SECONDS_PER_RUN ))/s"
done
