#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages. Idempotent: packages already
# present are not reinstalled, so the README commands stay fast on a prepared machine.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang llvm
  libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev
  prometheus-cpp-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libprotobuf-dev protobuf-compiler libcurl4-openssl-dev nlohmann-json3-dev
  libyaml-cpp-dev libcli11-dev systemtap-sdt-dev
  curl python3 python3-grpcio python3-protobuf nginx wrk prometheus binutils procps iproute2
  # The kernel matrix (scripts/vmtest.sh): QEMU (with virtiofsd), busybox for the initramfs,
  # depmod for the kernel packages' module lists, xz/zstd for compressed modules.
  qemu-system-x86 busybox-static kmod xz-utils zstd
  # scripts/test-under-load.sh
  stress-ng
  # tests/conformance: servers and clients no one here wrote, and the independent HPACK encoder
  nghttp2-client nghttp2-server apache2-utils hey openssl python3-h2 python3-hpack golang-go
  python3-httpx python3-aiohttp
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# Node runs one test: OpenTelemetry's own JS decoder reading our OTLP payloads. Any node >= 18
# will do (Debian's, or one already installed from elsewhere).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian nginx and prometheus packages start system services; tests run their own instances.
for svc in nginx prometheus; do
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then $SUDO service "$svc" stop >/dev/null 2>&1 || true; fi
done
echo "setup-deps: done"
