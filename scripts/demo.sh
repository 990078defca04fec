#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and runs the collector on this
# host with defaults, in the foreground (Ctrl-C stops it and detaches every probe).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO bash scripts/setup-deps.sh
bash scripts/build.sh
build="${ZT_BUILD_DIR:-$root/build}"
listen="${ZT_LISTEN:-:9464}"
port="${listen##*:}"
cat <<MSG

zerotrace is starting on this host (all processes, default probes).
  Metrics:    curl -s localhost:${port}/metrics | grep zerotrace_syscalls_total
  Health:     curl -s localhost:${port}/health
  Readiness:  curl -s localhost:${port}/ready
  Kernel:     ${build}/userspace/cli/zerotrace probe
Stop with Ctrl-C.

MSG
exec $SUDO "$build/userspace/cli/zerotrace" run --listen "$listen" "$@"
