#!/usr/bin/env bash
# Regenerates docs/metrics.md from the metrics catalog (userspace/core/metrics_catalog.cpp).
# The test `metrics_doc_fresh` fails when the committed file differs from this output.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ZT_BUILD_DIR:-$root/build}"
"$build/userspace/cli/zerotrace" metrics --format markdown >"$root/docs/metrics.md"
echo "wrote docs/metrics.md"
