#!/usr/bin/env bash
# The host suite on a busy machine: scripts/test.sh N times in a row (default 3) while
# `stress-ng --cpu 2 --io 1` runs beside it. Tests must wait on conditions, never on sleeps, and
# hold on a loaded node as they do on an idle one. The kernel matrix is left out (ZT_MATRIX=0):
# it runs under QEMU, where the guest's timing does not depend on the host's load the same way;
# CI runs it once. Extra arguments go to ctest (e.g. -L bpf).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs="${ZT_LOAD_RUNS:-3}"
command -v stress-ng >/dev/null || { echo "test-under-load: installing stress-ng"; apt-get install -y -qq stress-ng >/dev/null; }
stress-ng --cpu 2 --io 1 --timeout 0 --quiet &
stress=$!
trap 'kill $stress 2>/dev/null; wait $stress 2>/dev/null' EXIT
for i in $(seq "$runs"); do
  echo "=== test-under-load: run $i of $runs (stress-ng --cpu 2 --io 1 beside it)"
  if ! ZT_MATRIX=0 bash scripts/test.sh "$@"; then
    echo "test-under-load: run $i failed"
    exit 1
  fi
done
echo "test-under-load: $runs of $runs runs passed under load"
