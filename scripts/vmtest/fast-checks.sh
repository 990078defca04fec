#!/usr/bin/env bash
# The checks the kernel matrix runs on each kernel (inside the vmtest guest, or on the host):
#   fast-checks.sh          every probe loads (`zerotrace probe`), then one exact-count case per
#                           probe and attach path (the CI subset)
#   fast-checks.sh --full   every probe loads, then the whole BPF suite (ctest -L bpf)
# Results go to $ZT_VMTEST_JOB (probe.json, results.txt, logs) for scripts/vmtest/summarize.sh;
# the exit code is non-zero when a probe fails to load or any case fails.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${ZT_BUILD_DIR:-$root/build}"
out="${ZT_VMTEST_JOB:-$(mktemp -d)}"
export CI="${CI:-true}" # inside the matrix a BPF test never skips
# Each curl process costs about a second under QEMU without KVM: fewer fresh connections.
export ZT_E2E_FRESH_CONNECTIONS="${ZT_E2E_FRESH_CONNECTIONS:-5}"
# Verification is CPU-bound: under TCG the sockets probe's programs take a minute or more to load
# on kernels whose verifier explores as much as 6.12's.
export ZT_E2E_READY_TIMEOUT_S="${ZT_E2E_READY_TIMEOUT_S:-240}"
# The host deschedules a TCG vCPU thread for milliseconds: a writer's syscall-exit stamp can trail
# the peer's read of its data by more than the 1 ms a test allows on hardware (seen: 1.02 ms, 5.10).
export ZT_E2E_CROSS_CPU_SLACK_MS="${ZT_E2E_CROSS_CPU_SLACK_MS:-20}"
full=0
[ "${1:-}" = "--full" ] && full=1
rc=0
: >"$out/results.txt"

# Known gaps (scripts/vmtest/known-gaps.list, like libbpf CI's per-kernel denylists): a case
# listed for this kernel still runs; its failure is reported as a known gap and does not fail
# the run, and its passing is reported so the entry gets removed.
kernel_mm=$(uname -r | cut -d. -f1,2)
known_gap() {
  grep -v '^#' "$root/scripts/vmtest/known-gaps.list" 2>/dev/null |
    awk -v k="$kernel_mm" -v c="$1" '$1 == k && $2 == c {found=1} END {exit !found}'
}

record() { # name rc seconds
  local verdict=pass
  if [ "$2" -ne 0 ]; then
    if known_gap "$1"; then verdict=known-gap; else verdict=FAIL; rc=1; fi
  elif known_gap "$1"; then
    verdict=pass-remove-from-known-gaps
  fi
  echo "$1 $verdict $3" >>"$out/results.txt"
}

start=$(date +%s)
"$build/userspace/cli/zerotrace" probe --json >"$out/probe.json" 2>"$out/probe.log"
probe_rc=$?
# The capabilities table comes from the same report: a second `zerotrace probe` would load and
# attach every program again (each attach live-patches kernel text, which TCG handles worst).
if [ "$probe_rc" -eq 0 ]; then
  python3 - "$out/probe.json" <<'PY' || probe_rc=1
import json, sys
doc = json.load(open(sys.argv[1]))
print("WHAT YOU GET ON THIS KERNEL")
for c in doc.get("capabilities", []):
    why = f" ({c['detail']})" if c.get("detail") else ""
    print(f"  {'yes' if c['available'] else 'no':<4} {c['what']}{why}")
loads = doc.get("loads", {})
bad = [f"{p}: {l['error']}" for p, l in loads.items() if not l["loaded"]]
for b in bad:
    print("NOT LOADED", b)
sys.exit(1 if bad or not loads else 0)
PY
fi
record probes-load "$probe_rc" $(( $(date +%s) - start ))

run_case() { # binary gtest-filter
  local bin="$build/tests/$1" name t0 r log
  name="$(basename "$1"):$2"
  # The filter names the log, cut to stay under the file system's 255-byte names (a long filter
  # once failed every kernel's case at the redirect), with a checksum to keep names unique.
  log="$out/$(basename "$1").$(echo "$2" | tr -c 'A-Za-z0-9_.-' '_' | cut -c1-120).$(echo "$2" | cksum | cut -d' ' -f1).log"
  t0=$(date +%s)
  echo "=== $name"
  ZT_BUILD_DIR="$build" ZT_SOURCE_DIR="$root" timeout 900 "$bin" --gtest_filter="$2" \
    --gtest_color=no >"$log" 2>&1
  r=$?
  [ "$r" -eq 0 ] || tail -40 "$log"
  record "$name" "$r" $(( $(date +%s) - t0 ))
}

if [ "$full" -eq 1 ]; then
  t0=$(date +%s)
  ctest --test-dir "$build" -L bpf --output-on-failure --timeout 1800 >"$out/ctest.log" 2>&1
  r=$?
  grep -E '^ *[0-9]+/[0-9]+ Test' "$out/ctest.log" | while read -r _ _ _ name _ result secs _; do
    echo "$name $([ "$result" = Passed ] && echo pass || echo FAIL) ${secs%.*}" >>"$out/results.txt"
  done
  [ "$r" -eq 0 ] || { rc=1; grep -E 'FAILED|Failure' "$out/ctest.log" | head -40; }
  echo "ctest-bpf $([ "$r" -eq 0 ] && echo pass || echo FAIL) $(( $(date +%s) - t0 ))" >>"$out/results.txt"
else
  run_case e2e/syscalls/syscalls_bpf_test 'SyscallsBpfTest.ExactCountsErrorsAndDurationsForOneProcess'
  run_case e2e/http/http_bpf_test 'AttachPaths/Http1ExactCounts.ServerAndClient/*'
  run_case e2e/http/http_bpf_test 'HttpBpfTest.NginxOverTlsExactCountsThroughOpenSslUprobes:HttpBpfTest.NginxHttp2CleartextExactCounts:HttpBpfTest.GrpcUnaryFailingAndStreamingExactCounts'
  run_case e2e/spans/spans_bpf_test 'SpansBpfTest.FrontClientBackTracesInProcessPipeline'
  run_case e2e/profiling/profiling_bpf_test 'ProfilingBpfTest.OnCpuProfileOfBurnCpuNamesTheHotFunctionInEveryFormat:ProfilingBpfTest.OffCpuProfileOfSleeperAttributesOneSecondToTheKnownFunction:ProfilingBpfTest.OffCpuFallsBackToRawTracepointWithoutTpBtf'
  # Stacks of code without frame pointers, walked with each file's CFI (the walker's verifier
  # load and its pt_regs paths differ per kernel), and the CFI tables for real processes.
  run_case e2e/profiling/profiling_bpf_test 'ProfilingBpfTest.OnCpuStackOfCodeWithoutFramePointersIsWalkedWithItsCfi:ProfilingBpfTest.OffCpuTimeOfCodeWithoutFramePointersLandsOnTheCallingFunction:ProfilingBpfTest.StacksPastTheMappingBoundStopInsteadOfGuessing:ProfilingBpfTest.AStackDeeperThanTheBoundIsTruncatedAndMarked'
  # Python frames of Debian's CPython (thread found by its FS base, read with CO-RE).
  run_case e2e/profiling/profiling_bpf_test 'ProfilingBpfTest.OnCpuStacksOfPythonNameItsFunctionsAndLines:ProfilingBpfTest.OffCpuTimeOfPythonLandsOnTheBlockingPythonFunction'
  run_case unit/unwind/unwind_tables_bpf_test '*'
  run_case e2e/gpu/gpu_bpf_test 'GpuBpf.DriverUprobesThroughCudaProbe:GpuBpf.AllocationStackOfCodeWithoutFramePointersReachesMain:GpuBpf.AllocationStackFromPythonNamesThePythonCaller'
  run_case e2e/gpu/gpu_bpf_test 'GpuBpf.CuptiRecordsThroughCuptiProbe'
  # Peers not written here (tests/conformance): HTTP/2 with 100 streams in flight, in clear and
  # over TLS; asyncio's OpenSSL over memory BIOs on both sides; HTTP/1.1 pipelining; batches of
  # HTTP/2 frames in one sendmsg of 200 iovecs (python3-grpcio's way of writing).
  # A client writing on one thread and reading on another (SendOrder: write_seq per event).
  # Known gap without bpf_loop (5.10): the plain gather takes 32 iovecs, and a batch of 200
  # loses the rest of the call (584 of 600 server requests, counted; docs/protocols.md).
  iovecs_case=",python-h2-iovecs"
  if ! python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["features"]["bpf_loop"]["supported"] else 1)' "$out/probe.json" 2>/dev/null; then
    iovecs_case=""
    echo "known gap on this kernel (no bpf_loop): h2load-c2-m50-python-h2-iovecs-server not run"
  fi
  t0=$(date +%s)
  echo "=== conformance subset"
  /usr/bin/python3 "$root/tests/conformance/conformance.py" \
    --zerotrace "$build/userspace/cli/zerotrace" \
    --only "h2load-h2c-c1-m100-,h2load-tls-c1-m100-,tls-asyncio-server,httpx-h2-tls,wrk-pipelined,split-thread$iovecs_case" \
    >"$out/conformance.log" 2>&1
  r=$?
  grep -E '^(pass|FAIL|known)|^ ' "$out/conformance.log"
  record conformance-subset "$r" $(( $(date +%s) - t0 ))
  # traceparent propagation (sock_ops + sk_msg + the sockets probe's thread context): the wire
  # oracle on a thread-per-request and an event-loop front, and the safety cases.
  t0=$(date +%s)
  echo "=== propagation"
  /usr/bin/python3 "$root/tests/conformance/propagation.py" \
    --zerotrace "$build/userspace/cli/zerotrace" --only "safety,python-threads,node-event-loop" \
    >"$out/propagation.log" 2>&1
  r=$?
  grep -E '^(pass|FAIL|skip)|^ ' "$out/propagation.log"
  record propagation "$r" $(( $(date +%s) - t0 ))
fi
cat "$out/results.txt"
exit "$rc"
