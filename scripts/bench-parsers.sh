#!/usr/bin/env bash
# Protocol parser throughput: recorded-like HTTP/1.1 keep-alive traffic (requests with realistic
# headers, JSON/chunked responses) through ConnectionParser + route templating on one core.
#   scripts/bench-parsers.sh [seconds] [corpus exchanges] [connections] [http1|grpc]
# `grpc` runs unary gRPC calls (HTTP/2 frames + HPACK with dynamic-table reuse) on one connection.
# Builds only the benchmark target, into $ZT_BUILD_DIR (default ./build-bench-parsers).
# A corpus of ~1000 exchanges (1.6 MiB) stays cache-resident; 8192+ measures a cold-cache stream.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${ZT_BUILD_DIR:-$root/build-bench-parsers}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target zt_parser_bench -j "${ZT_JOBS:-2}" >/dev/null
bench="$build/tests/unit/protocols/zt_parser_bench"
if command -v taskset >/dev/null 2>&1; then
  exec taskset -c "${ZT_BENCH_CPU:-0}" "$bench" "${1:-5}" "${2:-1024}" "${3:-64}" "${4:-http1}"
fi
exec "$bench" "${1:-5}" "${2:-1024}" "${3:-64}" "${4:-http1}"
