#!/bin/bash
# Stack quality and cost of the on-CPU profiler's CFI walker against perf --call-graph dwarf on
# real Debian programs built without frame pointers (scripts/bench/unwind_quality.py; results in
# docs/benchmarks.md). Needs root, a build (scripts/build.sh), perf (linux-perf) and bpftool.
#   sudo scripts/bench-unwind.sh [--seconds 10] [--rate 49] [--only xz,python3]
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 scripts/bench/unwind_quality.py "$@"
