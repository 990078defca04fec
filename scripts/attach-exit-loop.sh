#!/usr/bin/env bash
# `zerotrace attach` against a target that exits at N different moments (default 50), spread
# over probe loading, the profiling window and its end: each must exit 0 and say the target
# exited (tests/e2e/daemon_profiling, AttachSurvivesTheTargetExitingAtAnyMoment). As root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ZT_BUILD_DIR:-$root/build}"
ZT_ATTACH_EXIT_TIMINGS="${1:-50}" ZT_BUILD_DIR="$build" ZT_SOURCE_DIR="$root" \
  "$build/tests/e2e/daemon_profiling/daemon_profiling_bpf_test" \
  --gtest_filter='DaemonProfilingBpfTest.AttachSurvivesTheTargetExitingAtAnyMoment'
