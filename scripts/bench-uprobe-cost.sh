#!/usr/bin/env bash
# What one uprobe hit costs on this machine, at SSL_write itself and at the internal function
# SSL_write and SSL_write_ex share (where zerotrace probes by default), as root:
#   scripts/bench-uprobe-cost.sh [LIBSSL] [CALLS]
# A small C program calls SSL_write on an unconnected SSL object (it fails at once) CALLS times;
# the time per call is printed without a probe, with a tracefs uprobe, and with a uretprobe.
# Needs gcc, objdump (binutils) and libssl-dev.
set -euo pipefail
lib="${1:-/usr/lib/x86_64-linux-gnu/libssl.so.3}"
calls="${2:-200000}"
tracefs=/sys/kernel/tracing
[ -e "$tracefs/uprobe_events" ] || mount -t tracefs nodev "$tracefs"
dir="$(mktemp -d)"
trap 'echo > "$tracefs/uprobe_events" 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/ub.c" <<'C'
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char** argv) {
  long n = atol(argv[1]);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* s = SSL_new(ctx);
  char buf[16];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) SSL_write(s, buf, sizeof buf);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n / 1e3);
  return 0;
}
C
gcc -O2 -o "$dir/ub" "$dir/ub.c" -lssl -lcrypto
sym() { nm -D "$lib" | awk -v f="$1" '!n && ($3 == f || index($3, f "@@") == 1) {print $1; n = 1}'; }
public=$(sym SSL_write)
ex=$(sym SSL_write_ex)
# The first call in SSL_write_ex is to the internal function (as FindSslInternals finds it).
internal=$(objdump -d --start-address=0x"$ex" --stop-address=$((0x$ex + 64)) "$lib" |
  awk '!n && /	call / {print $(NF-1); n = 1}')
echo "libssl: $lib; SSL_write at 0x$public, internal write function at 0x$internal"
echo "no probe: $("$dir/ub" "$calls") µs per SSL_write"
for site in "SSL_write 0x$public" "internal 0x$internal"; do
  set -- $site
  for kind in p r; do
    echo "$kind:ztbench/site $lib:$2" > "$tracefs/uprobe_events"
    echo 1 > "$tracefs/events/ztbench/enable"
    label=uprobe
    [ "$kind" = r ] && label=uretprobe
    echo "$label at $1: $("$dir/ub" "$calls") µs per SSL_write"
    echo 0 > "$tracefs/events/ztbench/enable"
    echo > "$tracefs/uprobe_events"
  done
done
echo > "$tracefs/trace"
