#!/usr/bin/env python3
"""Stack quality and cost of zerotrace's on-CPU profiler against `perf record --call-graph dwarf`.

For each workload (real Debian programs built without frame pointers, and two of ours), both
profilers sample the same process over the same seconds at the same rate. A stack is complete
when it reaches the process's entry (`__libc_start_main`, `__libc_start_call_main`, `_start`)
or a thread's start (`start_thread`, `clone3`). Reported per workload: the share of complete
stacks for zerotrace (CFI walker), zerotrace with frame pointers only, and perf; their ratio
(goal >= 0.95). The profiler's own CPU is measured by scripts/bench-profiler.sh.

  sudo scripts/bench-unwind.sh [--seconds 10] [--rate 49] [--only xz,python3]
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ENTRY = ("__libc_start_main", "__libc_start_call_main", "_start", "start_thread", "clone3",
         "__clone3", "__libc_start_main_impl")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PYTHON_HOT = """
def hot(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def caller():
    while True:
        hot(200000)
print("ready", flush=True)
caller()
"""


def workloads(tmp, cxx):
    return {
        "xz": "tar -cf - /usr/lib 2>/dev/null | xz -9e -T1 > /dev/null",
        "gzip": "tar -cf - /usr/lib 2>/dev/null | gzip -9 > /dev/null",
        "sha256sum": "exec sha256sum /dev/zero",
        "python3": "exec /usr/bin/python3 -c '%s'" % PYTHON_HOT.replace("'", "\\'"),
        "cxx-recursion-exceptions": "exec %s 100000" % cxx,
    }


def target_pid(shell_pid, name):
    """The pid of the program doing the work (the last process of a pipeline)."""
    want = {"xz": "xz", "gzip": "gzip"}.get(name)
    deadline = time.time() + 10
    while time.time() < deadline:
        if not want:
            return shell_pid
        out = subprocess.run(["pgrep", "-P", str(shell_pid), "-x", want], capture_output=True,
                             text=True).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.1)
    raise RuntimeError("no %s process under %d" % (want, shell_pid))


def folded_samples(path):
    """(frames root first, count) of each line of a folded file."""
    for line in open(path):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if count.isdigit():
            yield stack.split(";"), int(count)


def complete_share_folded(path):
    total = complete = 0
    for frames, n in folded_samples(path):
        total += n
        if any(f in ENTRY or f.startswith("__libc_start_main") for f in frames):
            complete += n
    return total, complete


def python_named_share_folded(path):
    """Samples whose stack names the Python functions: caller (file:line) above hot (file:line)."""
    total = named = 0
    for frames, n in folded_samples(path):
        total += n
        callers = [i for i, f in enumerate(frames) if f.startswith("caller (")]
        hots = [i for i, f in enumerate(frames) if f.startswith("hot (")]
        if callers and hots and callers[0] < hots[-1]:
            named += n
    return total, named


def complete_share_perf(data):
    out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,ip,sym"],
                         capture_output=True, text=True).stdout
    total = complete = 0
    for block in out.split("\n\n"):
        lines = [l.strip() for l in block.strip().splitlines()]
        if not lines:
            continue
        total += 1
        syms = [l.split(None, 1)[1] if len(l.split(None, 1)) > 1 else "" for l in lines[1:]]
        if any(s.split("+")[0] in ENTRY or s.startswith("__libc_start_main") for s in syms):
            complete += 1
    return total, complete


def profile_once(zt, name, cmd, seconds, rate, method, tmp):
    shell = subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.DEVNULL, preexec_fn=os.setsid)
    try:
        time.sleep(1.0)
        pid = target_pid(shell.pid, name)
        out = os.path.join(tmp, "%s-%s" % (name, method))
        os.makedirs(out, exist_ok=True)
        ready = os.path.join(out, "ready")
        zt_cmd = [zt, "attach", "--pid", str(pid), "--duration", "%ds" % seconds, "--profile",
                  "oncpu", "--out", out, "--ready-file", ready, "--unwind", method]
        z = subprocess.Popen(zt_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not os.path.exists(ready) and time.time() < deadline and z.poll() is None:
            time.sleep(0.05)
        perf_data = os.path.join(tmp, "%s-%s.perf" % (name, method))
        perf = subprocess.Popen(["perf", "record", "-q", "-F", str(rate), "--call-graph", "dwarf",
                                 "-p", str(pid), "-o", perf_data, "--", "sleep", str(seconds - 1)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        perf.wait()
        z.wait()
        zt_total, zt_complete = complete_share_folded(os.path.join(out, "oncpu.folded"))
        p_total, p_complete = complete_share_perf(perf_data)
        result = {"zt": (zt_total, zt_complete), "perf": (p_total, p_complete)}
        if name == "python3":
            result["python_named"] = python_named_share_folded(os.path.join(out, "oncpu.folded"))
        return result
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zerotrace", default=os.path.join(ROOT, "build/userspace/cli/zerotrace"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rate", type=int, default=49)
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (BPF, perf)")
    tmp = tempfile.mkdtemp(prefix="zt-bench-unwind-")
    cxx = os.path.join(tmp, "unwind_workload")
    subprocess.run(["g++", "-O2", "-o", cxx, os.path.join(ROOT, "scripts/bench/unwind_workload.cpp")],
                   check=True)
    rows = []
    notes = []
    try:
        for name, cmd in workloads(tmp, cxx).items():
            if a.only and name not in a.only.split(","):
                continue
            cfi = profile_once(a.zerotrace, name, cmd, a.seconds, a.rate, "cfi", tmp)
            fp = profile_once(a.zerotrace, name, cmd, a.seconds, a.rate, "frame_pointers", tmp)
            share = lambda t: t[1] / t[0] if t[0] else 0.0
            zs, ps, fs = share(cfi["zt"]), share(cfi["perf"]), share(fp["zt"])
            rows.append((name, cfi["zt"][0], zs, fs, cfi["perf"][0], ps, zs / ps if ps else 0.0))
            print("%-26s zerotrace %5.3f (fp only %5.3f)  perf-dwarf %5.3f  ratio %5.2f" %
                  (name, zs, fs, ps, rows[-1][6]), flush=True)
            if "python_named" in cfi:
                named = share(cfi["python_named"])
                notes.append("python3: %.3f of zerotrace's samples name caller (…:N);hot (…:M) "
                             "(Python frames; perf shows none)" % named)
                print("%-26s Python functions named in %5.3f of samples" % ("", named), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| workload | samples (zerotrace) | complete: zerotrace CFI | zerotrace frame pointers | "
          "samples (perf) | complete: perf --call-graph dwarf | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.3f | %.3f | %d | %.3f | %.2f |" % r)
    for n in notes:
        print()
        print(n)


if __name__ == "__main__":
    main()
