#!/usr/bin/env bash
# How much of nginx + wrk's loopback throughput any payload-reading L7 capture can keep on this
# machine: the floor programs of scripts/bench/capture_floor.bpf.c (nothing / find the call's
# buffer / + clock and a 64-byte copy per socket event / + that copy through a ring buffer
# drained every 2 ms / + one ring per CPU instead of one shared ring) next to zerotrace
# itself, all interleaved with runs without any program, every round.
#   scripts/bench-capture-floor.sh (as root, x86-64) [BUILD_DIR] [ROUNDS] [SECONDS]
# Same nginx (1 worker) and wrk (-t1 -c16) as scripts/bench-l7.sh. PIN=1 runs nginx on CPU 0 and
# wrk on CPU 1 (steadier ratios; the tools' userspace then shares a CPU with one of them).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
rounds="${2:-4}"
secs="${3:-5}"
zt="$build/userspace/cli/zerotrace"
[ -x "$zt" ] && [ -f "$build/gen/vmlinux.h" ] || { echo "build first (scripts/build.sh)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing (apt-get install wrk)"; exit 1; }
dir="$(mktemp -d)"
port=18777
cat > "$dir/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$port; location / { return 200 "hello from nginx\n"; } } }
CONF
src="$root/scripts/bench"
clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror -I"$build/gen" \
  -c "$src/capture_floor.bpf.c" -o "$dir/capture_floor.bpf.o"
bpftool gen skeleton "$dir/capture_floor.bpf.o" name capture_floor_bpf > "$dir/capture_floor.skel.h"
cc -O2 -Wall -Werror -I"$dir" "$src/capture_floor.c" -o "$dir/capture_floor" -lbpf -lelf -lz
pin0="" pin1=""
[ "${PIN:-0}" = 1 ] && pin0="taskset -c 0" pin1="taskset -c 1"
$pin0 /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
tool_pid=""
trap 'kill $nginx_pid 2>/dev/null; [ -n "$tool_pid" ] && kill $tool_pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
rps() { $pin1 wrk -t1 -c16 -d"${secs}s" "http://127.0.0.1:$port/" | awk '/Requests\/sec/ {print $2}'; }

configs=(off empty decode copy ring cpu-rings zerotrace zerotrace-server)
declare -A sum
for c in "${configs[@]}"; do sum[$c]=0; done
echo "round ${configs[*]} (requests/s)"
for r in $(seq 1 "$rounds"); do
  line="$r"
  for c in "${configs[@]}"; do
    case $c in
      off) tool_pid="" ;;
      zerotrace) "$zt" --log-level warn run --listen 127.0.0.1:$((port + 1)) --probes sockets \
        >/dev/null 2>&1 & tool_pid=$! ;;
      zerotrace-server) "$zt" --log-level warn run --listen 127.0.0.1:$((port + 1)) \
        --probes sockets --comm nginx >/dev/null 2>&1 & tool_pid=$! ;;
      *) "$dir/capture_floor" "$c" > "$dir/$c.out" & tool_pid=$! ;;
    esac
    [ -n "$tool_pid" ] && sleep 2
    v=$(rps)
    if [ -n "$tool_pid" ]; then kill "$tool_pid"; wait "$tool_pid" 2>/dev/null || true; fi
    tool_pid=""
    sum[$c]=$(echo "${sum[$c]} + $v" | bc)
    line="$line $v"
  done
  echo "$line   (ring records last round: $(awk '{print $3}' "$dir/ring.out"))"
done
for c in "${configs[@]:1}"; do
  printf "%-17s %.1f%% of baseline\n" "$c" "$(echo "100 * ${sum[$c]} / ${sum[off]}" | bc -l)"
done
