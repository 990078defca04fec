#!/usr/bin/env bash
# Runs every libFuzzer target (ASan + UBSan, clang), one after the other:
#   scripts/fuzz.sh [seconds-per-target]          (default 60)
# Builds them first if needed, into $ZT_FUZZ_BUILD_DIR (default ./build-fuzz, configured with
# clang and -DZT_BUILD_FUZZERS=ON: every library there carries the sanitizers). Each target
# starts from its committed seeds (tests/unit/parsers_fuzz/corpus/<target>/, or fuzz_replay's
# built-in seeds for the protocol parsers) plus what earlier runs found (build-fuzz/fuzz-corpus/).
# Prints executions and crashes per target; a crash, leak or hang (> 10 s on one input) leaves
# its input in build-fuzz/fuzz-artifacts/<target>/ and makes the exit status 1.
#   ZT_FUZZ_TARGETS="elf cgroup"   only these targets
#   ZT_FUZZ_RUNS=10000000          stop each target after this many executions instead (the
#                                  seconds argument is then only a cap)
#   ZT_FUZZ_JOBS=1                 build parallelism (default: all cores)
#   ZT_FUZZ_NICE=19                run the build and the fuzzers under nice
#   ZT_FUZZ_HPACK_BLOCKS=1000000   then the HPACK/HTTP/2 differential test against python3-hpack
#                                  (tests/unit/protocols/hpack_differential.py) with a fresh
#                                  seed: this many header blocks and blocks/300 connections, run
#                                  with the normal build's zt_hpack_decode_tool ($ZT_BUILD_DIR or
#                                  ./build); 0 skips it (CI runs 10^5 with seed 1)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ZT_FUZZ_BUILD_DIR:-$root/build-fuzz}"
secs="${1:-60}"
jobs="${ZT_FUZZ_JOBS:-$(nproc)}"
nice_cmd=(nice -n "${ZT_FUZZ_NICE:-0}")
protocol_targets=(http1 hpack http2 grpc)
parser_targets=(elf perf_map proc_maps environ cgroup pod_json config conn_tracker cupti
                otlp_options flamegraph_query python_line_table)
read -r -a targets <<<"${ZT_FUZZ_TARGETS:-${protocol_targets[*]} ${parser_targets[*]}}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ is needed (libFuzzer)" >&2
  exit 2
fi
if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DZT_BUILD_FUZZERS=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
"${nice_cmd[@]}" cmake --build "$build" -j "$jobs" --target fuzz_replay \
  "${targets[@]/#/fuzz_}" >/dev/null

# The protocol parsers' seeds are generated (fuzz_replay --write-seeds).
seeds_gen="$build/fuzz-seeds"
"$build/tests/unit/protocols_fuzz/fuzz_replay" --write-seeds "$seeds_gen"

# The ELF target writes each input to a file: keep those in memory when possible.
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then
  export TMPDIR=/dev/shm
fi

failed=0
printf '%-18s %14s %8s %s\n' target executions crashes "exec/s"
for t in "${targets[@]}"; do
  bin="$(find "$build/tests/unit" -name "fuzz_$t" -type f -perm -u+x | head -1)"
  if [[ -z "$bin" ]]; then
    echo "fuzz.sh: no binary fuzz_$t" >&2
    failed=1
    continue
  fi
  seeds="$root/tests/unit/parsers_fuzz/corpus/$t"
  [[ -d "$seeds" ]] || seeds="$seeds_gen/$t"
  work="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$work" "$artifacts"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$(dirname "$log")"
  before="$(find "$artifacts" -type f | wc -l)"
  rc=0
  # New inputs go to $work (the first folder); the seeds are only read.
  "${nice_cmd[@]}" "$bin" -max_total_time="$secs" ${ZT_FUZZ_RUNS:+-runs="$ZT_FUZZ_RUNS"} -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds" >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  crashes=0
  if [[ $rc -ne 0 ]]; then
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))
    [[ "$crashes" -gt 0 ]] || crashes=1  # a crash libFuzzer could not save an input for
    failed=1
  fi
  printf '%-18s %14s %8s %s\n' "$t" "${execs:-?}" "$crashes" "${rate:-?}"
  if [[ $rc -ne 0 ]]; then
    echo "  exit $rc, log $log, inputs in $artifacts/:" >&2
    grep -E "ERROR: |runtime error|invariant violated|==.*(SUMMARY|timeout)" "$log" | head -5 >&2
  fi
done

blocks="${ZT_FUZZ_HPACK_BLOCKS:-0}"
if [[ "$blocks" -gt 0 ]]; then
  tool="${ZT_BUILD_DIR:-$root/build}/tests/unit/protocols/zt_hpack_decode_tool"
  if [[ ! -x "$tool" ]]; then
    echo "fuzz.sh: $tool not built (the normal build's zt_hpack_decode_tool)" >&2
    failed=1
  else
    seed="$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
    echo "hpack differential: $blocks blocks, $((blocks / 300)) connections, seed $seed"
    "${nice_cmd[@]}" /usr/bin/python3 "$root/tests/unit/protocols/hpack_differential.py" \
      --tool "$tool" --blocks "$blocks" --connections "$((blocks / 300))" --seed "$seed" ||
      failed=1
  fi
fi
exit "$failed"
