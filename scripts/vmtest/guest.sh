#!/bin/sh
# Runs as PID 1 inside the vmtest guest, on the host's root (read-only, under a tmpfs overlay).
# Mounts what BPF programs and the tests need, brings lo up, runs the job's command as root from
# the job's working directory, writes its exit code to $jobdir/rc and powers the guest off.
jobdir="$1"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
# /run and /tmp start empty (tmpfs): the host's sockets and pid files mean nothing here, and the
# tests' scratch files stay off the overlay (5.10 guests soft-locked with /tmp on overlay over
# virtiofs). The job's working folder, when it lies under /tmp (a CI clone), is bound back in.
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/host-tmp
mount --bind /tmp /run/host-tmp
mount -t tmpfs -o mode=1777 tmpfs /tmp
. "$jobdir/env"
case "$ZT_VMTEST_CWD/" in
  /tmp/?*)
    top=${ZT_VMTEST_CWD#/tmp/}
    top=${top%%/*}
    mkdir -p "/tmp/$top"
    mount --bind "/run/host-tmp/$top" "/tmp/$top"
    ;;
esac
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up 2>/dev/null || busybox ip link set lo up
hostname zt-vmtest
ulimit -l unlimited
ulimit -n 65536

# vmtest.sh --snapshot: the copy of the build folder taken at start, over the live one.
[ -n "${ZT_VMTEST_BUILD_SNAPSHOT:-}" ] && mount --bind "$jobdir/build" "$ZT_VMTEST_BUILD_SNAPSHOT"
echo "vmtest-guest: kernel $(uname -r), $(nproc) CPUs; running: $(cat "$jobdir/cmd")"
cd "$ZT_VMTEST_CWD" && /bin/bash "$jobdir/cmd"
rc=$?
echo "$rc" >"$jobdir/rc"
sync
echo "ZT_VMTEST_RC=$rc"
# poweroff -f without init: the kernel halts at once; qemu runs with -no-reboot and exits.
echo o >/proc/sysrq-trigger 2>/dev/null
busybox poweroff -f
