#!/usr/bin/env bash
# Builds the zerotrace container image from ./Dockerfile, also on a machine that reaches no
# container registry (only a Debian package mirror):
#   1. base image: debootstrap a Debian 12 minbase rootfs and import it as localhost/debian:12-slim
#      (skipped when DEBIAN_IMAGE names a base to pull from a registry);
#   2. build the Dockerfile on that base (--build-arg DEBIAN_IMAGE=...), host network;
#   3. smoke-run `zerotrace version` (and `zerotrace probe`, informational) in the built image.
# Needs root (debootstrap, chroot isolation). Engine: docker if its daemon answers, else podman,
# else buildah (installed from Debian's packages when none is present). Tried with buildah 1.28 and
# Docker 20.10 (legacy builder and BuildKit); the podman branch has not been run.
#
#   sudo scripts/build-image.sh                              # no registry: debootstrap base
#   sudo DEBIAN_IMAGE=debian:12-slim scripts/build-image.sh  # registry base
#
# Environment:
#   IMAGE          tag of the result                       (zerotrace:dev)
#   DEBIAN_IMAGE   base image to use as is; unset = build one with debootstrap
#   ENGINE         docker | podman | buildah               (auto)
#   WORK           scratch dir: rootfs, tarball, buildah storage, logs   (/tmp/zt-image)
#   MIRROR         Debian mirror for debootstrap           (the host's, else deb.debian.org)
#   CONTEXT        build context                           (the repository root)
#   BUILD_TYPE     CMake build type                        (RelWithDebInfo)
#   STORAGE_DRIVER podman/buildah storage driver           (vfs: works everywhere, even nested)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMAGE:-zerotrace:dev}"
WORK="${WORK:-/tmp/zt-image}"
CONTEXT="${CONTEXT:-$root}"
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"
BASE_TAG="localhost/debian:12-slim"
SUITE=bookworm

die() { echo "build-image: error: $*" >&2; exit 1; }
log() { echo "build-image: $*" >&2; }
now() { date +%s; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot-isolated builds need it): sudo $0"
[ -f "$CONTEXT/Dockerfile" ] || die "no Dockerfile in CONTEXT=$CONTEXT"
mkdir -p "$WORK"

apt_install() {
  log "installing $* from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } \
    || die "apt-get install $* failed (is a Debian mirror reachable?)"
}

# --- engine -------------------------------------------------------------------------------------
if [ -z "${ENGINE:-}" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then ENGINE=docker
  elif command -v podman >/dev/null 2>&1; then ENGINE=podman
  else ENGINE=buildah
  fi
fi
case "$ENGINE" in
  docker)  docker info >/dev/null 2>&1 || die "ENGINE=docker but no Docker daemon answers ('docker info' fails)" ;;
  podman)  command -v podman >/dev/null 2>&1 || apt_install podman ;;
  buildah) command -v buildah >/dev/null 2>&1 || apt_install buildah ;;
  *) die "ENGINE must be docker, podman or buildah (got '$ENGINE')" ;;
esac
# podman/buildah: own storage under $WORK, no daemon, RUN steps in a chroot (no runc/crun, no
# cgroups or network namespaces needed).
store=(--root "$WORK/storage" --runroot "$WORK/run" --storage-driver "$STORAGE_DRIVER")
eng() {
  case "$ENGINE" in
    docker) docker "$@" ;;
    podman) podman "${store[@]}" "$@" ;;
    buildah) buildah "${store[@]}" "$@" ;;
  esac
}
build() {  # build <context> <tag> [args...]
  local ctx="$1" tag="$2"; shift 2
  case "$ENGINE" in
    # DOCKER_BUILDKIT=0 is not forced: BuildKit works offline as long as the base is local.
    docker)  docker build --network host -t "$tag" "$@" "$ctx" ;;
    podman)  podman "${store[@]}" build --isolation chroot --network host -t "$tag" "$@" "$ctx" ;;
    buildah) buildah "${store[@]}" bud --isolation chroot --network host -t "$tag" "$@" "$ctx" ;;
  esac
}
log "engine: $ENGINE$([ "$ENGINE" = docker ] || echo " (storage $STORAGE_DRIVER under $WORK/storage)")"

# --- base image ---------------------------------------------------------------------------------
t0=$(now)
if [ -n "${DEBIAN_IMAGE:-}" ]; then
  log "base: $DEBIAN_IMAGE (from a registry or already local)"
  pull=()   # each engine's default: pull when not present locally
else
  DEBIAN_IMAGE="$BASE_TAG"
  # Never ask a registry for the local base (podman/buildah would try docker.io otherwise).
  case "$ENGINE" in docker) pull=() ;; podman) pull=(--pull=never) ;; buildah) pull=(--pull-never) ;; esac
  rootfs="$WORK/rootfs"
  tarball="$WORK/debian-12-minbase.tar"
  if [ -z "${MIRROR:-}" ]; then
    # Reuse the mirror apt already uses here (deb822 sources first, then the one-line format).
    MIRROR="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
    [ -n "$MIRROR" ] || MIRROR="$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  fi
  if [ ! -f "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || apt_install debian-archive-keyring
    rm -rf "$rootfs"   # a half-made rootfs from an interrupted run
    log "debootstrap --variant=minbase $SUITE from $MIRROR (log: $WORK/debootstrap.log)"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
      || die "debootstrap failed, see $WORK/debootstrap.log"

    # apt sources as in the official image: main, updates and security, in deb822 form.
    rm -f "$rootfs/etc/apt/sources.list"
    security="${MIRROR%/debian}/debian-security"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Proxy settings of the host's apt, if any, so apt-get works the same inside the build.
    for f in /etc/apt/apt.conf.d/*proxy* /etc/apt/apt.conf.d/*Proxy*; do
      [ -f "$f" ] && cp "$f" "$rootfs/etc/apt/apt.conf.d/" && log "copied $f into the base"
    done
    # What makes debian:*-slim small: no caches, no translations, no docs or man pages.
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
           "$rootfs"/var/log/apt/* "$rootfs"/var/log/*.log "$rootfs"/usr/share/doc/*/changelog* \
           "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    : >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"; : >"$rootfs/etc/machine-id"
    # No device nodes or mount contents in an image: the engine provides /dev, /proc and /sys.
    tar --numeric-owner --xattrs -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' \
        --exclude='./sys/*' -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    log "rootfs tarball: $tarball ($(du -h "$tarball" | cut -f1))"
  else
    log "reusing $tarball (delete it to debootstrap again)"
  fi
  # Import as an image with a two-line Dockerfile: same path on every engine.
  imp="$WORK/base-context"; mkdir -p "$imp"
  ln -f "$tarball" "$imp/rootfs.tar" 2>/dev/null || cp "$tarball" "$imp/rootfs.tar"
  printf 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n' >"$imp/Dockerfile"
  build "$imp" "$BASE_TAG" "${pull[@]}" >"$WORK/base.log" 2>&1 || die "importing the base failed, see $WORK/base.log"
  log "base image $BASE_TAG ready ($(( $(now) - t0 ))s)"
fi

# --- build --------------------------------------------------------------------------------------
t1=$(now)
log "building $IMAGE from $CONTEXT on $DEBIAN_IMAGE (log: $WORK/build.log; ~15 min on 2 cores)"
build "$CONTEXT" "$IMAGE" "${pull[@]}" --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" \
  --build-arg BUILD_TYPE="$BUILD_TYPE" >"$WORK/build.log" 2>&1 \
  || { tail -n 30 "$WORK/build.log" >&2; die "image build failed, see $WORK/build.log"; }
build_s=$(( $(now) - t1 ))

# --- smoke run ----------------------------------------------------------------------------------
run_in_image() {  # the image's entrypoint is zerotrace: args are its subcommand
  case "$ENGINE" in
    docker) docker run --rm "$IMAGE" "$@" ;;
    podman) podman "${store[@]}" run --rm "$IMAGE" "$@" ;;
    buildah)
      local c; c="$(buildah "${store[@]}" from --pull-never "$IMAGE")"
      local rc=0; buildah "${store[@]}" run --isolation chroot "$c" -- /usr/bin/zerotrace "$@" || rc=$?
      buildah "${store[@]}" rm "$c" >/dev/null; return "$rc" ;;
  esac
}
run_privileged() {  # like `docker run --privileged --pid=host`: buildah's chroot isolation drops
  # the BPF capabilities, so chroot into the mounted image with the host's /proc, /sys and /dev.
  if [ "$ENGINE" != buildah ]; then
    # --privileged fails where the host itself lacks a capability (runc: "unable to apply caps");
    # then the capabilities BPF needs on any Docker version (20.10 has no CAP_BPF/CAP_PERFMON).
    eng run --rm --privileged --pid=host "$IMAGE" "$@" 2>/dev/null \
      || eng run --rm --pid=host --cap-add SYS_ADMIN --cap-add SYS_PTRACE \
           --security-opt seccomp=unconfined "$IMAGE" "$@"
    return
  fi
  local c m rc=0
  c="$(buildah "${store[@]}" from --pull-never "$IMAGE")"; m="$(buildah "${store[@]}" mount "$c")"
  mount --bind /proc "$m/proc" && mount --rbind /sys "$m/sys" && mount --bind /dev "$m/dev" \
    && chroot "$m" /usr/bin/zerotrace "$@" || rc=$?
  umount -l "$m/sys" 2>/dev/null || true; umount "$m/proc" "$m/dev" 2>/dev/null || true
  buildah "${store[@]}" umount "$c" >/dev/null; buildah "${store[@]}" rm "$c" >/dev/null
  return "$rc"
}
log "smoke run: zerotrace version"
run_in_image version || die "'zerotrace version' failed in $IMAGE"
log "zerotrace probe, privileged (informational: what this host's kernel supports)"
run_privileged probe || log "zerotrace probe exited $? (see above)"

size="$(eng images --format '{{.Size}}' "$IMAGE" 2>/dev/null | head -n1 || true)"
log "done: $IMAGE, $size, build ${build_s}s, total $(( $(now) - t0 ))s"
# The build stage prints the Debian packages the runtime stage installs, one a line.
# (BuildKit's plain progress puts "#12 3.456 " before each line.)
pkgs="$(sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^#[0-9]* [0-9.]* //' "$WORK/build.log" | awk '
  /runtime packages:$/ {on = 1; next}
  on && /^[a-z0-9][a-z0-9.+-]*$/ {printf "%s ", $0; next}
  on {exit}')"
log "runtime packages: ${pkgs:-(not found in $WORK/build.log)}"
case "$ENGINE" in
  docker) ;;
  *) log "use it: $ENGINE ${store[*]} push $IMAGE docker-archive:$WORK/zerotrace.tar  (then 'docker load -i')" ;;
esac
