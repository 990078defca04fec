#!/usr/bin/env bash
# Added CPU per request at a fixed request rate, with and without zerotrace (issue #21): nginx
# HTTP/1 (hey), nginx h2c (h2load --rps), python3-grpcio unary; see scripts/bench/fixed_rate.py.
#   sudo scripts/bench-fixed-rate.sh [--rounds 3] [--seconds 8] [--protocols http1,h2c,grpc]
#                                    [--configs "none;syscalls;sockets;default"]
set -euo pipefail
exec /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/bench/fixed_rate.py" "$@"
