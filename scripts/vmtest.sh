#!/usr/bin/env bash
# Kernel matrix: boots Debian's own cloud kernels under QEMU on this machine's root filesystem and
# runs a command inside as root (in the spirit of libbpf CI's vmtest and Cilium's little-vm-helper).
#
#   scripts/vmtest.sh --kernel 6.1 -- ctest --test-dir build -L bpf   # one kernel, any command
#   scripts/vmtest.sh --matrix            # fast checks (scripts/vmtest/fast-checks.sh) per kernel
#   scripts/vmtest.sh --matrix --full     # the whole BPF suite (ctest -L bpf) per kernel
#   scripts/vmtest.sh --list              # the pinned kernels (scripts/vmtest/kernels.list)
#   --snapshot: the guest runs a copy of the build folder taken at start (rebuild meanwhile)
#
# Kernels are fetched with apt from a private configuration (never installed on the host) and
# extracted with dpkg-deb into $ZT_VMTEST_CACHE (default /var/cache/zerotrace-vmtest). Each boot
# builds a tiny initramfs (busybox-static + the kernel's own virtio/virtiofs/overlay modules); the
# host root is shared read-only through virtiofsd under a tmpfs overlay; the job folder is shared
# read-write and carries the command, its exit code and the probe report back. KVM is used when
# the CPU has vmx/svm and /dev/kvm opens, TCG otherwise. A guest kernel panic ends the run at once
# (panic=-1 with -no-reboot); a hung guest is killed after --timeout seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$root/scripts/vmtest"
cache="${ZT_VMTEST_CACHE:-/var/cache/zerotrace-vmtest}"
build="${ZT_BUILD_DIR:-$root/build}"
kernels_list="$here/kernels.list"

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

die() {
  echo "vmtest: $*" >&2
  exit 2
}

# ---- options ----
kernel=""
matrix=0
full=0
cpus="${ZT_VMTEST_CPUS:-2}"
mem="${ZT_VMTEST_MEM:-3G}"
timeout_s="${ZT_VMTEST_TIMEOUT:-2400}"
report=""
include_host=1
snapshot="${ZT_VMTEST_SNAPSHOT:-0}"
cmd=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel="$2"; shift 2 ;;
    --matrix) matrix=1; shift ;;
    --full) full=1; shift ;;
    --no-host) include_host=0; shift ;;
    --cpus) cpus="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --report) report="$2"; shift 2 ;;
    --snapshot) snapshot=1; shift ;;
    --list) grep -v '^#' "$kernels_list" | awk 'NF {print $1, $2, $3}'; exit 0 ;;
    -h|--help) usage 0 ;;
    --) shift; cmd=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root: virtiofsd shares the root filesystem and BPF needs root"

# ---- the pinned kernels ----
kernel_names() { grep -v '^#' "$kernels_list" | awk 'NF {print $1}'; }
kernel_field() { grep -v '^#' "$kernels_list" | awk -v k="$1" -v f="$2" '$1 == k {print $f}'; }

apt_opts=()
apt_setup() {
  mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial" "$cache/debs"
  local src="$cache/apt/sources.list" suites
  suites=$(grep -v '^#' "$kernels_list" | awk 'NF {print $2}' | sort -u)
  : >"$src"
  for s in $suites; do
    case "$s" in
      *-security) echo "deb http://deb.debian.org/debian-security $s main" >>"$src" ;;
      *) echo "deb http://deb.debian.org/debian $s main" >>"$src" ;;
    esac
  done
  apt_opts=(-o "Dir::Etc::sourcelist=$src" -o Dir::Etc::sourceparts=/dev/null
    -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache::archives=$cache/apt/archives"
    -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
  if [ -z "$(ls "$cache/apt/lists" 2>/dev/null | grep -v partial)" ] || [ "$src" -nt "$cache/apt/lists/partial" ]; then
    echo "vmtest: apt-get update (private lists in $cache/apt)" >&2
    apt-get "${apt_opts[@]}" update -qq >&2 || die "apt-get update of the kernel suites failed"
    touch "$cache/apt/lists/partial"
  fi
}

# fetch_kernel NAME: prints the folder the kernel package is extracted in.
fetch_kernel() {
  local name="$1" pkg dir
  pkg=$(kernel_field "$name" 3)
  [ -n "$pkg" ] || die "kernel '$name' is not in $kernels_list (have: $(kernel_names | tr '\n' ' '))"
  dir="$cache/kernels/$pkg"
  if [ ! -f "$dir/.complete" ]; then
    apt_setup
    echo "vmtest: fetching $pkg" >&2
    rm -rf "$dir" "$cache/debs/$pkg"_*.deb
    (cd "$cache/debs" && apt-get "${apt_opts[@]}" download -qq "$pkg" >&2) ||
      die "apt-get download $pkg failed: if Debian dropped it, move the pin in $kernels_list"
    mkdir -p "$dir"
    dpkg-deb -x "$cache/debs/$pkg"_*.deb "$dir"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# build_initramfs KDIR OUT: busybox + the virtio/virtiofs/overlay modules in dependency order.
build_initramfs() {
  local kdir="$1" out="$2" stage moddir kver
  moddir=$(ls -d "$kdir"/lib/modules/* "$kdir"/usr/lib/modules/* 2>/dev/null | head -1)
  [ -n "$moddir" ] || die "no lib/modules in $kdir"
  kver=$(basename "$moddir")
  # The package ships no modules.dep (the installer runs depmod): make it in the cache.
  if [ ! -f "$moddir/modules.dep" ]; then
    depmod -b "$(dirname "$(dirname "$(dirname "$moddir")")")" "$kver" ||
      die "depmod for $kver failed"
  fi
  stage=$(mktemp -d)
  mkdir -p "$stage"/{bin,proc,sys,dev,tmp,mnt,modules}
  cp /bin/busybox "$stage/bin/busybox"
  cp "$here/init" "$stage/init"
  chmod +x "$stage/init"
  # Resolve the modules (and their dependencies, depth first) from the kernel's modules.dep.
  local -A seen=()
  local order=()
  add_module() {
    local rel="$1" dep
    [ -n "${seen[$rel]:-}" ] && return 0
    seen[$rel]=1
    for dep in $(awk -F: -v m="$rel" '$1 == m {print $2}' "$moddir/modules.dep"); do
      add_module "$dep"
    done
    order+=("$rel")
  }
  local want rel
  for want in virtio_pci virtiofs overlay; do
    rel=$(awk -F: -v w="$want" '{n=$1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); if (n == w) print $1}' \
      "$moddir/modules.dep" | head -1)
    # Built into this kernel when modules.builtin names it.
    if [ -z "$rel" ]; then
      grep -q "/$want.ko" "$moddir/modules.builtin" 2>/dev/null || die "$kver has no module $want"
      continue
    fi
    add_module "$rel"
  done
  : >"$stage/modules.order"
  for rel in "${order[@]}"; do
    local base
    base=$(basename "$rel")
    case "$base" in
      *.ko.xz) xz -dc "$moddir/$rel" >"$stage/modules/${base%.xz}"; base=${base%.xz} ;;
      *.ko.zst) zstd -qdc "$moddir/$rel" >"$stage/modules/${base%.zst}"; base=${base%.zst} ;;
      *.ko.gz) gzip -dc "$moddir/$rel" >"$stage/modules/${base%.gz}"; base=${base%.gz} ;;
      *) cp "$moddir/$rel" "$stage/modules/$base" ;;
    esac
    echo "$base" >>"$stage/modules.order"
  done
  (cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$out")
  rm -rf "$stage"
}

using_kvm() { grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && [ -z "${ZT_VMTEST_TCG:-}" ]; }

accel() {
  if using_kvm; then
    echo "-accel kvm -cpu host"
  else
    echo "-accel tcg,thread=${ZT_VMTEST_TCG_THREAD:-multi} -cpu max"
  fi
}

virtiofsd_bin() {
  local b
  for b in /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd "$(command -v virtiofsd 2>/dev/null)"; do
    [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return; }
  done
  die "no virtiofsd (Debian 12: package qemu-system-common; 13: virtiofsd)"
}

start_virtiofsd() {
  local sock="$1" dir="$2" log="$3" bin
  bin=$(virtiofsd_bin)
  if "$bin" --help 2>&1 | grep -q -- '--shared-dir'; then
    "$bin" --socket-path="$sock" --shared-dir="$dir" --cache=auto --sandbox=none >"$log" 2>&1 &
  else
    "$bin" --socket-path="$sock" -o source="$dir" -o cache=auto -o sandbox=chroot >"$log" 2>&1 &
  fi
  echo $!
}

# A soft lockup (a CPU spinning in the kernel for 2 x watchdog_thresh seconds) panics the guest,
# with every CPU's stack printed first (loglevel 5 shows them), instead of hanging until the
# timeout. 60 s: a long JIT pass under TCG must not count as one.
# An RCU stall (the same TCG fault seen from RCU: a vCPU without timer interrupts, the other
# spinning; 6.1 in CI sat in it for 25 minutes without a soft lockup report) panics too, after
# 60 s rather than the default 21 (a long verifier pass under TCG is not one).
lockup_args="softlockup_panic=1 watchdog_thresh=30 softlockup_all_cpu_backtrace=1"
lockup_args+=" sysctl.kernel.panic_on_rcu_stall=1 rcupdate.rcu_cpu_stall_timeout=60"

# ZT_VMTEST_DEADLINE (epoch seconds; scripts/test.sh sets it under CI): no guest runs past it, so a
# hung guest costs the rest of the budget, not the whole CI job, and the matrix table still prints.
min_guest_s=300
guest_time_limit() {
  local limit="$timeout_s" left
  if [ -n "${ZT_VMTEST_DEADLINE:-}" ]; then
    left=$((ZT_VMTEST_DEADLINE - $(date +%s)))
    [ "$left" -ge "$min_guest_s" ] || return 1
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  echo "$limit"
}

# run_in_vm_once NAME JOBDIR: boots kernel NAME with the job in JOBDIR; returns the command's exit
# code (124 on timeout or no time left, 125 when the guest could not start, 134 on a guest kernel
# panic, 135 on a soft lockup or an RCU stall).
run_in_vm_once() {
  local name="$1" job="$2" kdir vmlinuz pids=() rc limit
  limit=$(guest_time_limit) || {
    echo "vmtest: $name: not booted: ${ZT_VMTEST_DEADLINE:+the time budget ends at $(date -u -d "@$ZT_VMTEST_DEADLINE" +%H:%M:%S) UTC and }less than ${min_guest_s}s are left" >&2
    echo "not booted: time budget spent" >"$job/not-booted"
    return 124
  }
  kdir=$(fetch_kernel "$name")
  vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)
  build_initramfs "$kdir" "$job/initrd.gz"
  cp "$here/guest.sh" "$job/guest.sh"
  if [ "$snapshot" = 1 ]; then
    # Object files stay behind: the tests need the binaries, and the guest mounts this copy over
    # the build folder, so a rebuild on the host meanwhile does not change what it runs.
    mkdir -p "$job/build"
    tar -C "$build" --exclude='*.o' -cf - . | tar -C "$job/build" -xf -
    echo "export ZT_VMTEST_BUILD_SNAPSHOT=$(printf '%q' "$build")" >>"$job/env"
  fi
  for tag in hostroot jobdir; do
    local dir=/
    [ "$tag" = jobdir ] && dir="$job"
    pids+=("$(start_virtiofsd "$job/$tag.sock" "$dir" "$job/virtiofsd-$tag.log")")
  done
  for _ in $(seq 100); do
    [ -S "$job/hostroot.sock" ] && [ -S "$job/jobdir.sock" ] && break
    sleep 0.1
  done
  # A subshell keeps qemu's own status (not tee's) without touching the caller's errexit.
  rc=0
  # shellcheck disable=SC2046
  (timeout --kill-after=10 "$limit" qemu-system-x86_64 $(accel) -smp "$cpus" -m "$mem" \
    -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
    -chardev "socket,id=fs0,path=$job/hostroot.sock" \
    -device vhost-user-fs-pci,queue-size=1024,chardev=fs0,tag=hostroot \
    -chardev "socket,id=fs1,path=$job/jobdir.sock" \
    -device vhost-user-fs-pci,queue-size=1024,chardev=fs1,tag=jobdir \
    -kernel "$vmlinuz" -initrd "$job/initrd.gz" \
    -append "console=ttyS0 loglevel=5 panic=-1 oops=panic $lockup_args zt.jobdir=$job" \
    -display none -serial stdio -monitor none -no-reboot -nic none </dev/null |
    tee "$job/console.log"
    exit "${PIPESTATUS[0]}") || rc=$?
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  if [ -f "$job/rc" ]; then
    return "$(cat "$job/rc")"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "vmtest: $name: guest did not finish within ${limit}s" >&2
    return 124
  elif grep -q 'BUG: soft lockup' "$job/console.log"; then
    echo "vmtest: $name: guest kernel soft lockup (every CPU's stack is in the console above)" >&2
    return 135
  elif grep -q -E 'rcu: INFO: rcu_(preempt|sched) (self-)?detected stall' "$job/console.log"; then
    echo "vmtest: $name: guest kernel RCU stall (the stacks are in the console above)" >&2
    return 135
  elif grep -q 'Kernel panic' "$job/console.log"; then
    echo "vmtest: $name: guest kernel panic (see the console above)" >&2
    return 134
  fi
  echo "vmtest: $name: guest ended without an exit code (qemu exit $rc)" >&2
  return 125
}

# run_in_vm NAME JOBDIR: run_in_vm_once, booted once more when a TCG guest died of an emulator
# fault before the command finished:
# - "Oops: int3": multi-threaded TCG ran a stale translation of kernel text that another vCPU
#   just live-patched (static keys flipped when a tracepoint is enabled; seen with trixie's 6.12
#   in __schedule and syscall_exit_to_user_mode_prepare); real hardware and KVM never show it.
#   The second boot runs single-threaded TCG (one host thread runs every vCPU in turn, so no vCPU
#   can run a translation while another patches it): slower, but CI saw the same oops twice in a
#   row under multi-threaded TCG;
# - a soft lockup: one vCPU stopped taking interrupts (no timer ticks, "timer wakeup didn't
#   happen" on its RCU kthread) and the other spun forever waiting for its IPI (seen in CI, 30
#   minutes, until the job was killed). softlockup_panic turns that into a panic after a minute;
#   panic_on_rcu_stall does the same when only RCU notices it (6.1 in CI, 25 minutes).
# Under KVM neither is retried, and any other panic, or the same fault twice, fails the kernel.
# The retry is written to the job's results and the matrix row.
run_in_vm() {
  local name="$1" job="$2" rc=0 fault=""
  run_in_vm_once "$name" "$job" || rc=$?
  if ! using_kvm; then
    if [ "$rc" -eq 134 ] && grep -q 'Oops: int3' "$job/console.log"; then
      fault="TCG int3 oops"
    elif [ "$rc" -eq 135 ]; then
      fault="TCG soft lockup or RCU stall"
    fi
  fi
  if [ -n "$fault" ]; then
    echo "vmtest: $name: $fault (emulator fault); booting once more" >&2
    echo "$fault" >"$job/boot-retried"
    cp "$job/console.log" "$job/console-first-boot.log"
    rm -f "$job/results.txt" "$job/probe.json" "$job/rc" "$job"/*.sock
    rc=0
    if [ "$fault" = "TCG int3 oops" ]; then
      ZT_VMTEST_TCG_THREAD=single run_in_vm_once "$name" "$job" || rc=$?
    else
      run_in_vm_once "$name" "$job" || rc=$?
    fi
  fi
  return "$rc"
}

# new_job CMD...: a job folder with the command, the environment to carry and the working dir.
new_job() {
  local job
  mkdir -p "$cache/jobs"
  job=$(mktemp -d "$cache/jobs/job.XXXXXX")
  printf '%q ' "$@" >"$job/cmd"
  echo >>"$job/cmd"
  {
    echo "export ZT_VMTEST_CWD=$(printf '%q' "$PWD")"
    echo "export ZT_VMTEST_JOB=$(printf '%q' "$job")"
    echo "export ZT_VMTEST=1"
    env | grep -E '^(CI|ZT_[A-Z_]*|ZEROTRACE_[A-Z_]*|GTEST_[A-Z_]*)=' | grep -v '^ZT_VMTEST' |
      while IFS='=' read -r k v; do echo "export $k=$(printf '%q' "$v")"; done
  } >"$job/env"
  echo "$job"
}

# ---- one kernel ----
if [ "$matrix" -eq 0 ]; then
  [ -n "$kernel" ] || die "say --kernel NAME or --matrix (see --help)"
  [ ${#cmd[@]} -gt 0 ] || cmd=(bash "$here/fast-checks.sh")
  job=$(new_job "${cmd[@]}")
  set +e
  run_in_vm "$kernel" "$job"
  rc=$?
  set -e
  [ -n "${ZT_VMTEST_KEEP:-}" ] || rm -rf "$job"
  exit "$rc"
fi

# ---- the matrix ----
if [ ${#cmd[@]} -eq 0 ]; then
  if [ "$full" -eq 1 ]; then
    cmd=(bash "$here/fast-checks.sh" --full)
  else
    cmd=(bash "$here/fast-checks.sh")
  fi
fi
rows=()
overall=0
names=$(kernel_names)
[ "$include_host" -eq 1 ] && names="$names host"
for k in $names; do
  echo "=== vmtest: kernel $k: ${cmd[*]}" >&2
  job=$(new_job "${cmd[@]}")
  start=$(date +%s)
  set +e
  if [ "$k" = host ]; then
    (cd "$PWD" && ZT_VMTEST_JOB="$job" "${cmd[@]}")
  else
    run_in_vm "$k" "$job"
  fi
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  [ "$rc" -eq 0 ] || overall=1
  rows+=("$(bash "$here/summarize.sh" "$k" "$job" "$rc" "$secs")")
  # Kept for the verifier headroom table (scripts/vmtest/headroom.py) and for a look afterwards.
  mkdir -p "$cache/last-matrix/$k"
  cp "$job"/probe.json "$job"/results.txt "$job"/*.log "$cache/last-matrix/$k/" 2>/dev/null || true
  [ -n "${ZT_VMTEST_KEEP:-}" ] || rm -rf "$job"
done
{
  echo
  echo "kernel matrix, $(date -u +%Y-%m-%d), command: ${cmd[*]}"
  bash "$here/summarize.sh" --header
  printf '%s\n' "${rows[@]}"
  echo
  echo "each kernel's probe.json, results and logs: $cache/last-matrix/"
} | tee ${report:+"$report"}
exit "$overall"
