#!/usr/bin/env bash
# Soak test (issue 17): `zerotrace run` with every host probe under steady HTTP/1, gRPC, process
# and connection churn for MINUTES, the OTLP endpoint down for the middle third, Prometheus
# scraping every 5 s; fails on memory or fd drift, an uncounted request, an uncounted span drop
# or a crash. Details in scripts/soak.py; results in docs/reliability.md.
#   sudo scripts/soak.sh 30
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ZT_BUILD_DIR:-$root/build}"
minutes="${1:-30}"
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (BPF)"; exit 1; }
[ -x "$build/userspace/cli/zerotrace" ] || { echo "soak: build first ($build)"; exit 1; }
exec /usr/bin/python3 "$root/scripts/soak.py" "$minutes" --zerotrace "$build/userspace/cli/zerotrace"
