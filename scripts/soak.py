#!/usr/bin/python3
"""Soak test of `zerotrace run` (issue 17): steady load for MINUTES and nothing may drift or go
missing. Run through scripts/soak.sh (root).

Running beside the collector (probes sockets, tls, syscalls, oncpu, offcpu; spans over OTLP):
  - nginx (keep-alive HTTP/1), a Python HTTP/1 server and a python3-grpcio server, each under a
    steady client load (the clients count what they completed);
  - connection churn (a new connection per request for a third of the HTTP/1 load);
  - 50 short-lived processes a second;
  - the OTLP endpoint (a receiver in this script) down for the middle third, then back;
  - a real Prometheus (Debian's) scraping the collector every 5 s.
Every 10 s the collector's RSS and open fds are sampled. Pass:
  - the collector is alive at the end and exits cleanly on SIGTERM;
  - RSS at the end within +-10 % of RSS at minute 5 (at the first third for runs under 15 min);
  - open fds at the end no more than 8 above that same point;
  - per server, requests recorded + lost = requests the clients completed (exact);
  - spans dropped while the endpoint was down are counted (zerotrace_spans_dropped_total moved),
    and spans arrive again after it is back;
  - Prometheus scraped the collector successfully throughout (its `up` series stayed 1).
Writes a summary (and soak.json) to the work directory and exits 1 on any failure.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "conformance"))
from conformance import Collector, Nginx, free_port, total, wait_for  # noqa: E402
from span_links import Receiver  # noqa: E402


class Switchable(Receiver):
    """The OTLP receiver, with its port closed while down (connection refused)."""

    def __init__(self):
        super().__init__()
        self.down = False

    def go_down(self):
        self.down = True
        self.server.shutdown()
        self.server.server_close()

    def come_back(self):
        import http.server
        handler = self.server.RequestHandlerClass
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.down = False


class Load(threading.Thread):
    """Calls `fn` at `rate` per second until stopped; counts the calls that completed."""

    def __init__(self, name, fn, rate):
        super().__init__(daemon=True)
        self.name, self.fn, self.period = name, fn, 1.0 / rate
        self.completed = self.failed = 0
        self.stop = threading.Event()

    def run(self):
        nxt = time.monotonic()
        while not self.stop.is_set():
            try:
                if self.fn():
                    self.completed += 1
                else:
                    self.failed += 1
            except Exception:
                self.failed += 1
            nxt += self.period
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                nxt = time.monotonic()


def http_keepalive(port, path):
    import http.client
    state = {}

    def call():
        c = state.get("c")
        if c is None:
            c = state["c"] = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            return r.status < 600
        except Exception:
            c.close()
            state.pop("c", None)
            raise
    return call


def http_fresh(port, path):
    import http.client

    def call():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            c.request("GET", path, headers={"Connection": "close"})
            r = c.getresponse()
            r.read()
            return r.status < 600
        finally:
            c.close()
    return call


def proc_sample(pid):
    """(VmRSS, RssAnon, open fds): RssAnon is the heap alone (the BPF rings and maps the
    collector maps, ~32 MiB, count in VmRSS only)."""
    rss = anon = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
    return rss, anon, len(os.listdir(f"/proc/{pid}/fd"))


def self_gauges(samples):
    """The collector's own gauges without a workload label: sizes of its tables, for finding
    what grows when RSS does."""
    return {n + ("" if not l else str(sorted(l.items()))): v for n, l, v in samples
            if n.startswith("zerotrace_") and "service_name" not in l and not n.endswith(
                ("_total", "_bucket", "_sum", "_count"))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("minutes", type=float)
    ap.add_argument("--zerotrace", required=True)
    args = ap.parse_args()
    duration = args.minutes * 60
    workdir = tempfile.mkdtemp(prefix="zt-soak-")
    os.chmod(workdir, 0o755)
    receiver = Switchable()
    os.environ.update({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
                       "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                       "OTEL_BSP_SCHEDULE_DELAY": "500"})
    # The collector with every host probe on.
    try:
        collector = Collector(args.zerotrace, workdir, probes="sockets,tls,syscalls,oncpu,offcpu")
    except RuntimeError as e:
        print(f"soak: {e}")
        return 1
    procs, loads, failures = [], [], []
    summary = {"minutes": args.minutes, "workdir": workdir}
    try:
        nginx = Nginx(workdir)
        env = dict(os.environ, OTEL_SERVICE_NAME="soak-python-http")
        py = subprocess.Popen(["/usr/bin/python3",
                               os.path.join(ROOT, "tests/testprogs/servers/http_test_server.py")],
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(py)
        py_port = int(py.stdout.readline().split()[1])
        env = dict(os.environ, OTEL_SERVICE_NAME="soak-grpc-server")
        gs = subprocess.Popen(["/usr/bin/python3",
                               os.path.join(ROOT, "tests/conformance/grpc_load.py"), "--serve"],
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(gs)
        grpc_port = int(gs.stdout.readline())
        import grpc
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        say = channel.unary_unary("/conf.Echo/Say")
        # Prometheus scraping the collector every 5 s.
        prom_port = free_port()
        with open(f"{workdir}/prometheus.yml", "w") as f:
            f.write("global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
                    "scrape_configs:\n  - job_name: zerotrace\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{collector.port}']\n")
        prom = subprocess.Popen(["prometheus", f"--config.file={workdir}/prometheus.yml",
                                 f"--storage.tsdb.path={workdir}/prom",
                                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(prom)
        loads = [
            Load("nginx", http_keepalive(nginx.h1, "/index.html"), 40),
            Load("python-keepalive", http_keepalive(py_port, "/users/7"), 20),
            Load("python-fresh", http_fresh(py_port, "/ok"), 10),
            Load("grpc", lambda: say(b"x" * 32, timeout=10) is not None, 20),
            Load("short-lived", lambda: subprocess.run(["/bin/true"]).returncode == 0, 50),
        ]
        before = collector.scrape()
        for ld in loads:
            ld.start()
        t0 = time.monotonic()
        samples, outage, gauges = [], {}, []
        ref_at = 300 if duration >= 900 else duration / 3
        while time.monotonic() - t0 < duration:
            el = time.monotonic() - t0
            if not outage.get("down") and el >= duration / 3:
                outage["spans_before"] = len(receiver.spans)
                outage["dropped_before"] = total(collector.scrape(), "zerotrace_spans_dropped_total")
                receiver.go_down()
                outage["down"] = el
            if outage.get("down") and not outage.get("up") and el >= 2 * duration / 3:
                outage["dropped_during"] = (total(collector.scrape(), "zerotrace_spans_dropped_total")
                                            - outage["dropped_before"])
                receiver.come_back()
                outage["spans_at_return"] = len(receiver.spans)
                outage["up"] = el
            if collector.proc.poll() is not None:
                failures.append(f"the collector exited ({collector.proc.returncode})")
                break
            rss, anon, fds = proc_sample(collector.proc.pid)
            samples.append((el, rss, fds, anon))
            if len(samples) % 6 == 1:  # about once a minute
                try:
                    gauges.append((el, self_gauges(collector.scrape())))
                except Exception:  # a missed scrape is Prometheus' concern, checked below
                    pass
            time.sleep(min(10, max(0.1, duration - el)))
        for ld in loads:
            ld.stop.set()
        for ld in loads:
            ld.join(30)
        # Requests in flight when the load stopped reach the collector within a few seconds.
        time.sleep(3)
        after = collector.scrape()
        spans_after = len(receiver.spans)

        def served(match):
            rec = (total(after, "http_server_request_duration_seconds_count", **match) -
                   total(before, "http_server_request_duration_seconds_count", **match))
            return rec

        def lost(service):
            return (total(after, "zerotrace_requests_lost_total", service_name=service, side="server")
                    - total(before, "zerotrace_requests_lost_total", service_name=service,
                            side="server"))
        grpc_rec = (total(after, "rpc_server_duration_seconds_count", service_name="soak-grpc-server")
                    - total(before, "rpc_server_duration_seconds_count",
                            service_name="soak-grpc-server"))
        by = {ld.name: ld.completed for ld in loads}
        checks = {
            "nginx": (served({"server_port": str(nginx.h1)}) + lost("nginx"), by["nginx"]),
            "python-http": (served({"service_name": "soak-python-http"}) + lost("soak-python-http"),
                            by["python-keepalive"] + by["python-fresh"]),
            "grpc": (grpc_rec + lost("soak-grpc-server"), by["grpc"]),
        }
        for name, (rec, want) in checks.items():
            if rec != want:
                failures.append(f"{name}: recorded + lost {rec:g} != completed {want}")
        ref = min(samples, key=lambda s: abs(s[0] - ref_at)) if samples else (0, 0, 0, 0)
        end = samples[-1] if samples else (0, 0, 0, 0)
        if ref[1] and abs(end[1] - ref[1]) > 0.10 * ref[1]:
            failures.append(f"RSS {ref[1] / 2**20:.1f} MiB at {ref[0]:.0f} s, "
                            f"{end[1] / 2**20:.1f} MiB at the end (more than 10 % apart)")
        if end[2] > ref[2] + 8:
            failures.append(f"open fds {ref[2]} at {ref[0]:.0f} s, {end[2]} at the end")
        if outage.get("down") is not None and not outage.get("dropped_during"):
            failures.append("spans dropped while the OTLP endpoint was down were not counted")
        if outage.get("up") is not None and spans_after <= outage.get("spans_at_return", 0):
            failures.append("no span arrived after the OTLP endpoint came back")
        # Prometheus: every scrape of the collector succeeded.
        try:
            q = urllib.request.urlopen(
                f"http://127.0.0.1:{prom_port}/api/v1/query?query=min_over_time(up[{int(duration)}s])",
                timeout=10).read()
            res = json.loads(q)["data"]["result"]
            summary["prometheus_min_up"] = res[0]["value"][1] if res else None
            if not res or res[0]["value"][1] != "1":
                failures.append(f"Prometheus saw the collector down: {res}")
        except Exception as e:
            failures.append(f"Prometheus query failed: {e}")
        summary.update({"loads": {ld.name: {"completed": ld.completed, "failed": ld.failed}
                                  for ld in loads},
                        "recorded_vs_completed": {k: [v[0], v[1]] for k, v in checks.items()},
                        "rss_mib": [round(ref[1] / 2**20, 1), round(end[1] / 2**20, 1)],
                        "fds": [ref[2], end[2]], "reference_s": round(ref[0]),
                        "rss_anon_mib": [round(ref[3] / 2**20, 1), round(end[3] / 2**20, 1)],
                        "outage": outage, "spans_received": spans_after,
                        "samples": samples, "self_gauges": gauges})
        # A clean exit on SIGTERM.
        collector.proc.send_signal(signal.SIGTERM)
        try:
            rc = collector.proc.wait(30)
            if rc != 0:
                failures.append(f"the collector exited {rc} on SIGTERM")
        except subprocess.TimeoutExpired:
            failures.append("the collector did not exit within 30 s of SIGTERM")
            collector.proc.kill()
        nginx.stop()
    finally:
        for ld in loads:
            ld.stop.set()
        for p in procs:
            try:
                if p.stdin:
                    p.stdin.close()
                p.terminate()
                p.wait(10)
            except Exception:
                p.kill()
        if collector.proc.poll() is None:
            collector.proc.kill()
        if not receiver.down:
            receiver.stop()
    summary["failures"] = failures
    with open(os.path.join(workdir, "soak.json"), "w") as f:
        json.dump(summary, f, indent=1)
    s = summary
    print(f"soak {args.minutes:g} min: loads {json.dumps(s.get('loads'))}")
    print(f"  recorded(+lost) vs completed: {json.dumps(s.get('recorded_vs_completed'))}")
    print(f"  RSS MiB {s.get('rss_mib')} (at {s.get('reference_s')} s, end; heap alone "
          f"{s.get('rss_anon_mib')}), fds {s.get('fds')}")
    print(f"  OTLP outage: {json.dumps({k: v for k, v in s.get('outage', {}).items()})}, "
          f"spans received {s.get('spans_received')}; Prometheus min(up) "
          f"{s.get('prometheus_min_up')}")
    print("  " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    print(f"  details: {workdir}/soak.json, collector log {workdir}/zerotrace.log")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
