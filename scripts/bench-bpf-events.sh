#!/usr/bin/env bash
# Kernel cost per socket event: nginx + wrk on loopback for 5 s under `zerotrace run --probes
# sockets --bpf-stats true`, then each BPF program's run count and mean run time (bpftool).
#   scripts/bench-bpf-events.sh (as root) [ZEROTRACE_BINARY]
# ZT_ARGS adds flags, e.g. ZT_ARGS="--comm nosuchproc" (the filter path of unselected processes).
# Interleave two binaries (an old build and a new one) to compare: single runs vary by ~10 %.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
zt="${1:-$root/build/userspace/cli/zerotrace}"
[ -x "$zt" ] || { echo "build first: $zt missing"; exit 1; }
dir="$(mktemp -d)"; port=18777
cat > "$dir/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$port; location / { return 200 "hello from nginx\n"; } } }
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" & ng=$!
# shellcheck disable=SC2086  # ZT_ARGS is a list of flags
"$zt" --log-level warn run --listen 127.0.0.1:$((port + 1)) --probes sockets --bpf-stats true \
  ${ZT_ARGS:-} & z=$!
trap 'kill $z $ng 2>/dev/null || true; rm -rf "$dir"' EXIT
sleep 2
bpftool prog show -j > "$dir/b0.json"
wrk -t1 -c16 -d5s "http://127.0.0.1:$port/" | grep Requests
bpftool prog show -j > "$dir/b1.json"
python3 - "$dir/b0.json" "$dir/b1.json" <<'PY'
import json, sys
before = {p["id"]: p for p in json.load(open(sys.argv[1]))}
for p in json.load(open(sys.argv[2])):
    q = before.get(p["id"])
    if not q or "run_cnt" not in p:
        continue
    n = p["run_cnt"] - q.get("run_cnt", 0)
    if n > 1000:
        print(p.get("name"), n, "runs", round((p["run_time_ns"] - q.get("run_time_ns", 0)) / n), "ns")
PY
