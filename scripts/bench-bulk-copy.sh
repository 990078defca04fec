#!/usr/bin/env bash
# How much of a bulk download zerotrace copies out of the kernel (as root):
#   scripts/bench-bulk-copy.sh [ZEROTRACE_BINARY] [DOWNLOADS] [MBYTES]
# nginx serves a file of MBYTES (default 10) to DOWNLOADS (default 3) curl runs, one connection
# each, both sides captured; prints the bytes copied to userspace and the bytes left in the
# kernel (capture hints, HTTP/2 frame following), the counts, and the collector's CPU.
# TLS=1: HTTPS through the OpenSSL uprobes. HTTP2=1: HTTP/2 (prior knowledge on cleartext).
set -euo pipefail
bin="${1:-build/userspace/cli/zerotrace}"
downloads="${2:-3}"
mbytes="${3:-10}"
dir="$(mktemp -d)"
port=18797
mkdir -p "$dir/www"
head -c "$((mbytes * 1000000))" /dev/urandom > "$dir/www/big"
listen="127.0.0.1:$port" tls_conf="" scheme=http probes=sockets curl_flags=(-s -o /dev/null)
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \
    -subj /CN=localhost >/dev/null 2>&1
  listen="$listen ssl" scheme=https probes=sockets,tls curl_flags+=(-k)
  tls_conf="ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;"
fi
if [ "${HTTP2:-0}" = 1 ]; then
  listen="$listen http2"
  if [ "${TLS:-0}" = 1 ]; then curl_flags+=(--http2); else curl_flags+=(--http2-prior-knowledge); fi
else
  curl_flags+=(--http1.1)
fi
cat > "$dir/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $dir/body;
  server { listen $listen; $tls_conf root $dir/www; location / { } } }
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
"$bin" --log-level warn run --listen 127.0.0.1:$((port + 1)) --probes "$probes" ${ZT_ARGS:-} >"$dir/zt.log" 2>&1 &
zt_pid=$!
trap 'kill $nginx_pid $zt_pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 3
curl "${curl_flags[@]}" "$scheme://127.0.0.1:$port/big"  # warm-up (and TLS uprobes attached)
sleep 1
metric() { curl -s "127.0.0.1:$((port + 1))/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
cap0=$(metric zerotrace_socket_bytes_captured_total)
skip0=$(metric zerotrace_socket_bytes_not_copied_total)
cpu0=$(awk '{print $14 + $15}' "/proc/$zt_pid/stat")
start=$(date +%s.%N)
for _ in $(seq 1 "$downloads"); do curl "${curl_flags[@]}" "$scheme://127.0.0.1:$port/big"; done
end=$(date +%s.%N)
sleep 1
cpu1=$(awk '{print $14 + $15}' "/proc/$zt_pid/stat")
cap1=$(metric zerotrace_socket_bytes_captured_total)
skip1=$(metric zerotrace_socket_bytes_not_copied_total)
counted=$(curl -s "127.0.0.1:$((port + 1))/metrics" |
  awk '/^http_(server|client)_request_duration_seconds_count/ && /http_route="\/big"/ {n += $2} END {print n + 0}')
plain=$((2 * downloads * mbytes * 1000000))
echo "$scheme http2=${HTTP2:-0}: $downloads x $mbytes MB, both sides: $plain bytes of payload"
printf "copied to userspace: %.1f MB, left in the kernel: %.1f MB\n" \
  "$(echo "($cap1 - $cap0) / 1000000" | bc -l)" "$(echo "($skip1 - $skip0) / 1000000" | bc -l)"
echo "requests counted (server + client, incl. warm-up): $counted (expected $((2 * (downloads + 1))))"
printf "collector CPU: %d ms; downloads took %.2f s\n" "$(((cpu1 - cpu0) * 10))" \
  "$(echo "$end - $start" | bc -l)"
