#!/usr/bin/env bash
# nginx + wrk on loopback, with and without zerotrace's L7 capture (sockets probe), interleaved
# so machine noise hits both sides alike. Prints throughput and p99 per run and the ratios.
#   scripts/bench-l7.sh (as root) [BUILD_DIR] [ROUNDS] [SECONDS]
# ZT_ARGS adds flags to `zerotrace run`, e.g. ZT_ARGS="--comm nginx" (server side only) or
# ZT_ARGS="--bpf-stats false". WRK_ARGS adds flags to wrk, e.g. WRK_ARGS="-H 'Connection: close'"
# (a new connection per request: the per-connection costs). BODY_BYTES=N serves a file of N
# bytes (read and written with writev: sendfile is off) instead of the 17-byte answer: large
# responses, where capture hints matter.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
rounds="${2:-3}"
secs="${3:-10}"
zt="$build/userspace/cli/zerotrace"
[ -x "$zt" ] || { echo "build first: $zt missing"; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing (apt-get install wrk)"; exit 1; }
dir="$(mktemp -d)"
port=18777
answer='return 200 "hello from nginx\n";'
[ -n "${BODY_BYTES:-}" ] && answer='try_files /body =404;'
cat > "$dir/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$port; root $dir/www;
    location / { $answer } } }
CONF
mkdir -p "$dir/www"
if [ -n "${BODY_BYTES:-}" ]; then head -c "$BODY_BYTES" /dev/zero > "$dir/www/body"; fi
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
trap 'kill $nginx_pid 2>/dev/null; kill $zt_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
zt_pid=""
sleep 1

hz=$(getconf CLK_TCK)
eval "wrk_extra=(${WRK_ARGS:-})"  # WRK_ARGS is shell words, quotes included
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_wrk() {  # prints "<requests/s> <p99 ms>"
  wrk -t1 -c16 -d"${secs}s" --latency "${wrk_extra[@]}" "http://127.0.0.1:$port/" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {print rps, p99}'
}

echo "zerotrace run --probes sockets ${ZT_ARGS:-}; wrk -t1 -c16 ${WRK_ARGS:-}"
echo "round mode rps p99_ms"
base_rps=0; base_p99=0; on_rps=0; on_p99=0
for r in $(seq 1 "$rounds"); do
  read -r rps p99 < <(run_wrk)
  echo "$r off $rps $p99"
  base_rps=$(echo "$base_rps + $rps" | bc -l); base_p99=$(echo "$base_p99 + $p99" | bc -l)
  # shellcheck disable=SC2086  # ZT_ARGS is a list of flags
  "$zt" --log-level warn run --listen 127.0.0.1:$((port + 1)) --probes sockets ${ZT_ARGS:-} &
  zt_pid=$!
  sleep 2
  kill -0 "$zt_pid" 2>/dev/null || { echo "zerotrace exited during start-up"; exit 1; }
  cpu0=$(cpu_ticks "$zt_pid")
  read -r rps p99 < <(run_wrk)
  cpu1=$(cpu_ticks "$zt_pid")
  echo "$r on  $rps $p99"
  requests=$(curl -s "http://127.0.0.1:$((port + 1))/metrics" |
    awk '/^http_server_request_duration_seconds_count/ {s+=$2} END {print s+0}')
  # The collector's own CPU (user + system, BPF programs not included: they run in the traced
  # processes' context) per request it counted.
  us=$(echo "($cpu1 - $cpu0) * 1000000 / $hz / ($requests + 0.000001)" | bc -l)
  printf "    zerotrace counted %s server requests, collector CPU %.2f us per request\n" \
    "$requests" "$us"
  kill "$zt_pid"; wait "$zt_pid" 2>/dev/null || true; zt_pid=""
  on_rps=$(echo "$on_rps + $rps" | bc -l); on_p99=$(echo "$on_p99 + $p99" | bc -l)
done
printf "throughput with capture: %.1f%% of baseline\n" "$(echo "100 * $on_rps / $base_rps" | bc -l)"
printf "p99 with capture: %.2fx baseline\n" "$(echo "$on_p99 / $base_p99" | bc -l)"
