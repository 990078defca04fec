#!/usr/bin/python3
"""Span links on real runtimes: a front service calls a back service for each request (no trace
headers propagated by either), one `zerotrace run` exports spans over OTLP/HTTP (JSON) to a
receiver in this script, and each case checks, per runtime:

    wrong parents = 0      a front CLIENT span whose parent is the SERVER span of another
                           request (the request id is in both paths: /api/orders/<id> and
                           /items/<id>), or a back SERVER span whose parent is not the client
                           call that sent it
    exact counts           front SERVER, front CLIENT and back SERVER spans = requests completed
    recall                 parents found / requests; required to be 100 % only where the link is
                           certain (a thread serves one request at a time: Python's threaded
                           http.server); printed for the others (event loops, goroutines)

    sudo /usr/bin/python3 tests/conformance/span_links.py --zerotrace build/userspace/cli/zerotrace

Runtimes: Python threaded http.server (tests/testprogs/servers), Node.js (one event loop, a
keep-alive agent), Python asyncio (python3-aiohttp), Go net/http (goroutines move between
threads; built at test time), nginx as a reverse proxy (keep-alive upstream) in front of the
Python back.
"""
import argparse
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conformance import Collector, moved_counters, need, wait_for, IN_CI, Skip  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.join(HERE, "..", "testprogs", "servers")


class Receiver:
    """An OTLP/HTTP JSON trace receiver: keeps every span with its service name."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    outer.add(json.loads(body))
                    self.send_response(200)
                except ValueError:
                    self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, doc):
        out = []
        for rs in doc.get("resourceSpans", []):
            res = {a["key"]: value(a["value"]) for a in rs.get("resource", {}).get("attributes", [])}
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    attrs = {a["key"]: value(a["value"]) for a in s.get("attributes", [])}
                    out.append({"trace": s.get("traceId", ""), "span": s.get("spanId", ""),
                                "parent": s.get("parentSpanId", ""), "kind": s.get("kind", 0),
                                "service": res.get("service.name", ""),
                                "path": attrs.get("url.path", ""), "attrs": attrs})
        with self.lock:
            self.spans.extend(out)

    def of(self, services):
        with self.lock:
            return [s for s in self.spans if s["service"] in services]

    def stop(self):
        self.server.shutdown()


def value(v):
    for k in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    return None


class Service:
    """A test service that prints "ready <port>" and lives until its stdin closes."""

    def __init__(self, argv, name):
        env = dict(os.environ, OTEL_SERVICE_NAME=name)
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"ready (\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"{argv}: no 'ready <port>' line: {line!r}")
        self.port = int(m.group(1))

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


def drive(port, n, concurrency):
    """n requests /api/orders/<id>, `concurrency` at a time over keep-alive connections;
    returns the ids that completed with 200."""
    import http.client
    local = threading.local()

    def one(i):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            local.conn.request("GET", f"/api/orders/{i}")
            r = local.conn.getresponse()
            r.read()
            return i if r.status == 200 else None
        except Exception:
            local.conn.close()
            del local.conn
            return None

    with ThreadPoolExecutor(concurrency) as pool:
        return {i for i in pool.map(one, range(n)) if i is not None}


def runtimes(workdir):
    def python(back_port):
        return (["/usr/bin/python3", os.path.join(SERVERS, "back_service.py")],
                ["/usr/bin/python3", os.path.join(SERVERS, "front_service.py"), str(back_port)])

    def node(back_port):
        need("node")
        js = os.path.join(HERE, "span_peers", "node_services.js")
        return ["node", js, "back"], ["node", js, "front", str(back_port)]

    def go(back_port):
        need("go")
        exe = os.path.join(workdir, "go_services")
        if not os.path.exists(exe):
            env = dict(os.environ, GOCACHE=os.path.join(workdir, "gocache"), GO111MODULE="off")
            subprocess.run(["go", "build", "-o", exe,
                            os.path.join(HERE, "span_peers", "go_services.go")],
                           env=env, check=True, capture_output=True, timeout=300)
        return [exe, "back"], [exe, "front", str(back_port)]

    def aiohttp(back_port):
        try:
            import aiohttp as _  # noqa: F401
        except ImportError:
            raise Skip("python3-aiohttp is not installed")
        py = ["/usr/bin/python3", os.path.join(HERE, "span_peers", "aiohttp_services.py")]
        return py + ["back"], py + ["front", str(back_port)]

    def nginx_proxy(back_port):
        need("nginx")
        back, _ = python(0)
        return back, ["/usr/bin/python3", os.path.join(HERE, "span_peers", "nginx_proxy.py"),
                      str(back_port)]

    # (name, argv builder, requests, concurrency, recall required)
    return [("python-threads", python, 100, 8, True),
            ("node-event-loop", node, 200, 10, False),
            ("python-asyncio-aiohttp", aiohttp, 200, 10, False),
            ("go-goroutines", go, 200, 10, False),
            ("nginx-reverse-proxy", nginx_proxy, 200, 10, False)]


def check(spans, front, back, ids, front_port, back_port):
    """Returns (report dict) for the spans of one case. Spans are told apart by service and by
    port (server.port: the front's own port on its server spans, the back's on its client
    spans), so another process of the same name on the host (nginx) does not count."""
    by_id = {s["span"]: s for s in spans}

    def port(s):
        return str(s["attrs"].get("server.port", ""))
    fs = [s for s in spans if s["service"] == front and s["kind"] in (2, "SPAN_KIND_SERVER")
          and port(s) == str(front_port)]
    fc = [s for s in spans if s["service"] == front and s["kind"] in (3, "SPAN_KIND_CLIENT")
          and port(s) == str(back_port)]
    bs = [s for s in spans if s["service"] == back and s["kind"] in (2, "SPAN_KIND_SERVER")]
    rid = lambda s: s["path"].rsplit("/", 1)[-1]  # noqa: E731
    wrong = linked = 0
    for c in fc:
        p = by_id.get(c["parent"]) if c["parent"] else None
        if c["parent"] and p is None:
            wrong += 1  # a parent that is no span of this collector: invented
        elif p is not None:
            if p["service"] == front and p["kind"] in (2, "SPAN_KIND_SERVER") and rid(p) == rid(c):
                linked += 1
            else:
                wrong += 1
    back_wrong = back_linked = 0
    for b in bs:
        p = by_id.get(b["parent"]) if b["parent"] else None
        if p is None:
            continue
        if p["service"] == front and p["kind"] in (3, "SPAN_KIND_CLIENT") and rid(p) == rid(b):
            back_linked += 1
        else:
            back_wrong += 1
    why = {}
    for c in fc:
        reason = c["attrs"].get("zerotrace.parent.not_inferred")
        if reason:
            why[reason] = why.get(reason, 0) + 1
    out = {"front_server": len(fs), "front_client": len(fc), "back_server": len(bs),
           "completed": len(ids), "wrong": wrong + back_wrong, "client_linked": linked,
           "back_linked": back_linked}
    out.update({f"unlinked({k})": v for k, v in sorted(why.items())})
    return out


def run_case(name, collector, failed, body):
    """One case: body(services) -> (ok, report dict), where `services` is a list the body puts
    the Service objects it starts in (stopped afterwards, last first). Prints the verdict line
    (and the collector's counters that moved, on a failure); a failed name joins `failed`."""
    t0 = time.monotonic()
    services = []
    before = collector.scrape()
    try:
        ok, r = body(services)
        verdict = "pass" if ok else "FAIL"
    except Skip as e:
        verdict, r = ("FAIL" if IN_CI else "skip"), {"reason": str(e)}
    except Exception as e:
        verdict, r = "FAIL", {"error": f"{type(e).__name__}: {e}"}
    finally:
        for s in reversed(services):
            s.stop()
    if verdict == "FAIL":
        failed.append(name)
        print("     collector counters that moved: " + moved_counters(before, collector.scrape()))
    detail = ", ".join(f"{k} {v}" for k, v in r.items())
    print(f"{verdict} {name}: {detail} ({time.monotonic() - t0:.1f}s)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zerotrace", required=True)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("span_links: needs root (BPF)")
        return 1 if IN_CI else 77
    workdir = tempfile.mkdtemp(prefix="zt-span-links-")
    os.chmod(workdir, 0o755)
    receiver = Receiver()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.port}"
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    # The collector sees every process of the host: under ctest, the conformance suite's
    # thousands of requests share the span queue with these cases (a full queue drops spans,
    # counted in zerotrace_spans_dropped_total, and shown below when a case fails).
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = "200000"
    os.environ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = "4096"
    collector = Collector(args.zerotrace, workdir)
    failed = []
    try:
        for name, build, n, conc, need_recall in runtimes(workdir):
            if args.only and args.only not in name:
                continue
            front, back = f"zt-links-{name}-front-{os.getpid()}", f"zt-links-{name}-back-{os.getpid()}"
            # nginx writes its process titles over its environment: named by its executable.
            front_service = "nginx" if name.startswith("nginx") else front

            def case(services, build=build, n=n, conc=conc, need_recall=need_recall, back=back,
                     front=front, front_service=front_service):
                back_argv, _ = build(0)
                services.append(Service(back_argv, back))
                _, front_argv = build(services[0].port)
                services.append(Service(front_argv, front))
                ids = drive(services[1].port, n, conc)
                want = len(ids)
                names = {front_service, back}
                wait_for(lambda: sum(1 for s in receiver.of(names)
                                     if s["path"].rsplit("/", 1)[-1].isdigit()) >= 3 * want,
                         30, 0.2)
                r = check(receiver.of(names), front_service, back, ids, services[1].port,
                          services[0].port)
                exact = (r["front_server"] == r["front_client"] == r["back_server"] == want == n)
                recall_ok = not need_recall or r["client_linked"] == want
                return r["wrong"] == 0 and exact and recall_ok and r["back_linked"] == want, r
            run_case(name, collector, failed, case)
    finally:
        collector.stop()
        receiver.stop()
    print(f"span_links: {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    if failed:
        print(f"collector log: {workdir}/zerotrace.log")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
