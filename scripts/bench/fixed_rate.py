#!/usr/bin/python3
"""Added CPU per request at a fixed request rate (issue #21), the way Coroot and Pixie measure:
the same load with and without zerotrace, interleaved round by round, on servers and clients not
written here.

    scripts/bench-fixed-rate.sh [--rounds 3] [--seconds 8] [--protocols http1,h2c,grpc]
                                [--configs "none;syscalls;sockets;default"]

Per protocol a server and a fixed-rate client run for --seconds in each configuration, in an
order rotated every round:
  http1  nginx (1 worker, keep-alive, 17-byte body), hey -c 20 -q --rate/20 (default 10,000/s)
  h2c    nginx HTTP/2 cleartext, h2load -c 4 -m 10 --rps --rate/4 (default 10,000/s)
  grpc   python3-grpcio unary server, a python3-grpcio client at --grpc-rate (default 500/s)
Per request it reports the traced server's CPU (its /proc/PID/stat: the BPF programs that run on
its syscalls count there), the client's CPU (its rusage), the collector's CPU, the BPF run time
per request summed over programs (kernel BPF stats, `--bpf-stats true`), and latency (hey: p50
and p99; h2load: mean; grpc client: p50, p99, p99.9). Deltas are against `none` of the same
round; the table shows the median over rounds. Run as root on an otherwise idle machine.
"""
import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TICK = os.sysconf("SC_CLK_TCK")
BODY = "hello from nginx\n"  # 17 bytes


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proc_cpu(pid):
    """utime + stime of a process (all its threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# ---------------------------------------------------------------- gRPC peers (python3-grpcio)

def grpc_server():
    import grpc
    from concurrent import futures

    def echo(request, context):
        return request
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Call": grpc.unary_unary_rpc_method_handler(echo)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()
    server.stop(0)


async def grpc_client(port, rate, seconds):
    import grpc
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/bench.Echo/Call")
        await call(b"warm")
        latencies, tasks = [], []

        async def one():
            t0 = time.perf_counter()
            await call(b"ping")
            latencies.append(time.perf_counter() - t0)
        start = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one()))
        await asyncio.gather(*tasks)
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(f"completed {len(latencies)} p50 {pick(0.5)} p99 {pick(0.99)} p999 {pick(0.999)}")


# ---------------------------------------------------------------- servers and clients

class Nginx:
    def __init__(self, workdir):
        self.http1, self.h2c = free_port(), free_port()
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off; master_process off; worker_processes 1;
pid {workdir}/nginx.pid; error_log {workdir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off; keepalive_requests 100000000; keepalive_timeout 300s;
  server {{ listen 127.0.0.1:{self.http1}; location / {{ return 200 "{BODY.strip()}\\n"; }} }}
  server {{ listen 127.0.0.1:{self.h2c} http2; http2_max_requests 100000000;
           location / {{ return 200 "{BODY.strip()}\\n"; }} }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", workdir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.http1)
        wait_port(self.h2c)
        self.pid = self.proc.pid

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class GrpcServer:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, __file__, "grpc-server"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.pid = self.proc.pid

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def run_client(argv):
    """Runs a client to completion; returns (stdout, its CPU seconds from rusage)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}): {out[-400:]}")
    return out, ru.ru_utime + ru.ru_stime


def hey_load(port, rate, seconds):
    out, cpu = run_client(["hey", "-z", f"{seconds}s", "-c", "20", "-q", str(max(1, rate // 20)),
                           f"http://127.0.0.1:{port}/"])
    done = sum(int(n) for n in re.findall(r"\[\d+\]\s+(\d+) responses", out))
    lat = {q: float(v) * 1e3 for q, v in re.findall(r"\s(50|99)% in ([\d.]+) secs", out)}
    return done, cpu, {"p50_ms": lat.get("50"), "p99_ms": lat.get("99")}


def h2load_load(port, rate, seconds):
    out, cpu = run_client(["h2load", "-D", str(seconds), "-c", "4", "-m", "10",
                           "--rps", str(max(1, rate // 4)), f"http://127.0.0.1:{port}/"])
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done", out)
    done = int(m.group(1)) if m else 0
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    return done, cpu, {"mean_ms": to_ms(mean.group(1)) if mean else None}


def to_ms(text):
    for unit, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * scale
    return None


def grpc_load(port, rate, seconds):
    out, cpu = run_client([sys.executable, __file__, "grpc-client", str(port), str(rate),
                           str(seconds)])
    m = re.search(r"completed (\d+) p50 (\S+) p99 (\S+) p999 (\S+)", out)
    return int(m.group(1)), cpu, {"p50_ms": float(m.group(2)) * 1e3,
                                  "p99_ms": float(m.group(3)) * 1e3,
                                  "p99.9_ms": float(m.group(4)) * 1e3}


# ---------------------------------------------------------------- the collector

class Collector:
    def __init__(self, zerotrace, probes, workdir, config=None):
        self.port = free_port()
        name = probes
        # "<probes>+propagate": with traceparent propagation on (its cost lands in the client,
        # whose writes pass the sk_msg program).
        propagate = probes.endswith("+propagate")
        probes = probes[:-len("+propagate")] if propagate else probes
        argv = [zerotrace] + (["--config", config] if config else []) + [
            "run", "--listen", f"127.0.0.1:{self.port}", "--bpf-stats", "true"]
        if propagate:
            argv += ["--propagate-traceparent", "true"]
        if probes != "default":
            argv += ["--probes", probes]
        self.log = open(os.path.join(workdir, f"zerotrace-{name}.log"), "a")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"zerotrace exited ({self.proc.returncode}); see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("zerotrace never became ready")

    def bpf_seconds(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
            text = r.read().decode()
        return sum(float(v) for v in re.findall(
            r"^zerotrace_bpf_prog_run_seconds_total\{[^}]*\} (\S+)$", text, re.M))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- the rounds

def measure(load, server_pid, collector):
    server0 = proc_cpu(server_pid)
    col0 = proc_cpu(collector.pid) if collector else 0.0
    bpf0 = collector.bpf_seconds() if collector else 0.0
    done, client_cpu, latency = load()
    server = proc_cpu(server_pid) - server0
    col = (proc_cpu(collector.pid) - col0) if collector else 0.0
    bpf = (collector.bpf_seconds() - bpf0) if collector else 0.0
    if done == 0:
        raise RuntimeError("the client completed no request")
    per = lambda s: s / done * 1e6  # µs per request
    return {"requests": done, "server_us": per(server), "client_us": per(client_cpu),
            "collector_us": per(col), "bpf_us": per(bpf), **latency}


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "grpc-server":
        return grpc_server()
    if len(sys.argv) >= 2 and sys.argv[1] == "grpc-client":
        return asyncio.run(grpc_client(int(sys.argv[2]), float(sys.argv[3]),
                                       float(sys.argv[4])))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--zerotrace", default=os.path.join(ROOT, "build/userspace/cli/zerotrace"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--rate", type=int, default=10000, help="HTTP requests/s (http1, h2c)")
    ap.add_argument("--grpc-rate", type=int, default=500)
    ap.add_argument("--protocols", default="http1,h2c,grpc")
    ap.add_argument("--config", help="a zerotrace config file for every traced configuration "
                    "(e.g. probes.offcpu.sample_ratio)")
    ap.add_argument("--configs", default="none;syscalls;sockets;default",
                    help="';'-separated: none, default, or a --probes list (e.g. sockets,tls); "
                    "+propagate after either: with otlp.propagate_traceparent on")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench-fixed-rate: run as root (the collector loads BPF programs)", file=sys.stderr)
        return 2
    configs = [c.strip() for c in args.configs.split(";" if ";" in args.configs else ",")]
    if "none" not in configs:
        configs.insert(0, "none")
    workdir = tempfile.mkdtemp(prefix="zt-fixed-rate-")
    nginx = Nginx(workdir)
    grpc = GrpcServer() if "grpc" in args.protocols else None
    loads = {
        "http1": (lambda: hey_load(nginx.http1, args.rate, args.seconds), nginx.pid),
        "h2c": (lambda: h2load_load(nginx.h2c, args.rate, args.seconds), nginx.pid),
        "grpc": (lambda: grpc_load(grpc.port, args.grpc_rate, args.seconds),
                 grpc.pid if grpc else 0),
    }
    protocols = [p for p in args.protocols.split(",") if p]
    results = {}  # (protocol, config) -> [row per round]
    try:
        for rnd in range(args.rounds):
            order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
            for config in order:
                collector = None if config == "none" else Collector(args.zerotrace, config, workdir,
                                                               args.config)
                try:
                    for protocol in protocols:
                        load, pid = loads[protocol]
                        row = measure(load, pid, collector)
                        results.setdefault((protocol, config), []).append(row)
                        print(f"round {rnd + 1} {protocol:5} {config:18} " + " ".join(
                            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in row.items() if v is not None), flush=True)
                finally:
                    if collector:
                        collector.stop()
    finally:
        nginx.stop()
        if grpc:
            grpc.stop()
    report(results, protocols, configs, args)
    return 0


def report(results, protocols, configs, args):
    print(f"\nmedians over {args.rounds} rounds of {args.seconds} s; deltas against `none` of the "
          f"same round; µs per request")
    print("| protocol | probes | requests/round | server CPU | Δ server | Δ client | collector "
          "| added in all | BPF run time | latency (Δ) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for protocol in protocols:
        base = results[(protocol, "none")]
        for config in configs:
            rows = results[(protocol, config)]
            med = lambda key: statistics.median(r[key] for r in rows)
            delta = lambda key: statistics.median(r[key] - b[key] for r, b in zip(rows, base))
            lat_keys = [k for k in ("p50_ms", "p99_ms", "p99.9_ms", "mean_ms")
                        if rows[0].get(k) is not None]
            if config == "none":
                lat = ", ".join(f"{k[:-3]} {med(k):.2f} ms" for k in lat_keys)
                print(f"| {protocol} | none | {med('requests'):.0f} | {med('server_us'):.2f} | — "
                      f"| — | — | — | — | {lat} |")
                continue
            lat = ", ".join(f"{k[:-3]} {delta(k):+.2f} ms" for k in lat_keys)
            # The headline: what tracing one request costs the node (server + client + collector).
            added = statistics.median(
                (r["server_us"] - b["server_us"]) + (r["client_us"] - b["client_us"]) +
                r["collector_us"] for r, b in zip(rows, base))
            print(f"| {protocol} | {config} | {med('requests'):.0f} | {med('server_us'):.2f} | "
                  f"{delta('server_us'):+.2f} | {delta('client_us'):+.2f} | "
                  f"{med('collector_us'):.2f} | {added:+.2f} | {med('bpf_us'):.2f} | {lat} |")


if __name__ == "__main__":
    sys.exit(main())
