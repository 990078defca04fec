#!/usr/bin/env bash
# Two zerotrace builds against each other on nginx + wrk (loopback), interleaved with a run
# without zerotrace in every round, so machine noise hits all three alike:
#   scripts/bench-l7-ab.sh (as root) OLD_ZEROTRACE NEW_ZEROTRACE [ROUNDS] [SECONDS]
# e.g. a worktree of an older commit built with scripts/build.sh, against build/. WRK_ARGS adds
# wrk flags (WRK_ARGS="-H 'Connection: close'": a connection per request). BODY_BYTES=N serves
# a file of N bytes instead of a short answer; TLS=1 serves HTTPS (self-signed certificate; both
# builds then run with --probes sockets,tls, nginx and wrk captured through the OpenSSL uprobes).
set -euo pipefail
old="${1:?old zerotrace binary}"
new="${2:?new zerotrace binary}"
rounds="${3:-4}"
secs="${4:-5}"
command -v wrk >/dev/null || { echo "wrk missing (apt-get install wrk)"; exit 1; }
dir="$(mktemp -d)"
port=18777
answer='return 200 "hello from nginx\n";' listen="127.0.0.1:$port" tls_conf="" scheme=http probes=sockets
if [ -n "${BODY_BYTES:-}" ]; then
  mkdir -p "$dir/www" && head -c "$BODY_BYTES" /dev/urandom > "$dir/www/body"
  answer="root $dir/www; try_files /body =404;"
fi
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \
    -subj /CN=localhost >/dev/null 2>&1
  listen="$listen ssl" scheme=https probes=sockets,tls
  tls_conf="ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;"
fi
cat > "$dir/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $dir/body;
  server { listen $listen; $tls_conf location / { $answer } } }
CONF
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
zt_pid=""
trap 'kill $nginx_pid 2>/dev/null; [ -n "$zt_pid" ] && kill $zt_pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1
eval "wrk_extra=(${WRK_ARGS:-})"  # WRK_ARGS is shell words, quotes included
rps() {
  wrk -t1 -c16 -d"${secs}s" "${wrk_extra[@]}" "$scheme://127.0.0.1:$port/" |
    awk '/Requests\/sec/ {print $2}'
}
sum_off=0 sum_old=0 sum_new=0
echo "round off old new (requests/s); wrk -t1 -c16 ${WRK_ARGS:-} $scheme body=${BODY_BYTES:-short}"
for r in $(seq 1 "$rounds"); do
  off=$(rps)
  sum_off=$(echo "$sum_off + $off" | bc)
  line="$r $off"
  for which in old new; do
    bin=$old
    [ "$which" = new ] && bin=$new
    "$bin" --log-level warn run --listen 127.0.0.1:$((port + 1)) --probes "$probes" >/dev/null 2>&1 &
    zt_pid=$!
    sleep 2
    v=$(rps)
    kill "$zt_pid"; wait "$zt_pid" 2>/dev/null || true; zt_pid=""
    if [ "$which" = old ]; then sum_old=$(echo "$sum_old + $v" | bc); else sum_new=$(echo "$sum_new + $v" | bc); fi
    line="$line $v"
  done
  echo "$line"
done
printf "old: %.1f%% of baseline, new: %.1f%% of baseline\n" \
  "$(echo "100 * $sum_old / $sum_off" | bc -l)" "$(echo "100 * $sum_new / $sum_off" | bc -l)"
