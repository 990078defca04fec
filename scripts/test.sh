#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test with ctest and
# ends with ctest's summary. BPF tests need root; under CI=true they fail rather than skip.
set -euo pipefail
started=$(date +%s)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO bash scripts/setup-deps.sh
bash scripts/build.sh
# OpenTelemetry JS (from npm, pinned by package-lock.json) for the independent OTLP decode test.
if [ ! -d tests/unit/otlp/node_modules/@opentelemetry/otlp-transformer ]; then
  npm ci --prefix tests/unit/otlp --no-audit --no-fund --loglevel=error ||
    echo "test.sh: npm ci failed; the OTLP JS decode test will say it skips"
fi
build="${ZT_BUILD_DIR:-$root/build}"
# BPF tests load programs as root: run the suite as root when we are not.
ctest_cmd=(ctest --test-dir "$build" --output-on-failure --timeout 600 -j 2)
if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: not root; BPF tests will say why they skip (run with sudo for the full suite)"
fi
set +e
"${ctest_cmd[@]}" "$@"
host_rc=$?
set -e
# The kernel matrix: the same BPF checks on Debian's own 5.10, 6.1 and 6.12 kernels booted under
# QEMU (scripts/vmtest.sh; the fast subset, ~10 minutes a kernel under TCG). Always under CI;
# ZT_MATRIX=0 skips it on a developer machine, and it needs root.
matrix_rc=0
if [ "${ZT_MATRIX:-1}" != 0 ] || [ "${CI:-}" = true ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: not root; the kernel matrix needs root (sudo scripts/vmtest.sh --matrix)"
    [ "${CI:-}" = true ] && matrix_rc=1
  else
    # CI gives the whole job 90 minutes: no guest runs past 7 minutes before that (the clone came
    # before this script; the table and summary come after), so a hung guest fails its kernel
    # and the run still ends with the matrix table instead of being killed without one.
    if [ "${CI:-}" = true ] && [ -z "${ZT_VMTEST_DEADLINE:-}" ]; then
      export ZT_VMTEST_DEADLINE=$((started + ${ZT_CI_BUDGET_S:-5400} - 420))
    fi
    set +e
    bash scripts/vmtest.sh --matrix --no-host
    matrix_rc=$?
    set -e
  fi
fi
if [ "$host_rc" -ne 0 ] || [ "$matrix_rc" -ne 0 ]; then
  echo "test.sh: host suite exit $host_rc, kernel matrix exit $matrix_rc"
  exit 1
fi
