#!/usr/bin/env bash
# One row of the kernel-matrix table from a finished job folder:
#   summarize.sh --header | summarize.sh KERNEL JOBDIR RC SECONDS
# Columns: kernel, then per probe the attach path taken (or FAILED), the worst verifier budget of
# any program (instructions processed, combined stack), cases passed/run, exit code, time.
set -uo pipefail
if [ "${1:-}" = "--header" ]; then
  echo "| kernel | syscalls | sockets | oncpu | offcpu | cuda | cupti | max insns / stack | cases passed | result | time |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  exit 0
fi
kernel="$1" job="$2" rc="$3" secs="$4"
python3 - "$kernel" "$job" "$rc" "$secs" <<'PY'
import json, os, sys
kernel, job, rc, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cells, insns, stack = [], 0, 0
try:
    doc = json.load(open(os.path.join(job, "probe.json")))
    kernel = f"{kernel} ({doc.get('kernel', '?')})"
    loads = doc.get("loads", {})
except (OSError, ValueError):
    loads = {}
for p in ["syscalls", "sockets", "oncpu", "offcpu", "cuda", "cupti"]:
    l = loads.get(p)
    if l is None:
        cells.append("?")
        continue
    cells.append(l["mode"] if l["loaded"] else "**FAILED**")
    for prog in l.get("programs", []):
        insns = max(insns, prog["insns_processed"])
        stack = max(stack, prog["combined_stack"])
passed = total = gaps = 0
try:
    for line in open(os.path.join(job, "results.txt")):
        parts = line.split()
        if len(parts) >= 2 and parts[0] != "ctest-bpf":
            total += 1
            passed += parts[1].startswith("pass")
            gaps += parts[1] == "known-gap"
except OSError:
    pass
result = "pass" if rc == 0 else f"**FAIL** (exit {rc})"
def note(name):
    try:
        return open(os.path.join(job, name)).read().strip()
    except OSError:
        return None
if note("not-booted"):
    result += f" ({note('not-booted')})"
if note("boot-retried"):
    result += f" (booted twice: {note('boot-retried')})"
print(f"| {kernel} | " + " | ".join(cells) +
      f" | {insns} / {stack} B | {passed}/{total}" + (f" ({gaps} known gap{'s' if gaps > 1 else ''})" if gaps else "") +
      f" | {result} | {secs // 60}m{secs % 60:02d}s |")
PY
