#!/usr/bin/python3
"""traceparent propagation on real runtimes (docs/tracing.md, Propagation): one `zerotrace run
--propagate-traceparent true` confined to a cgroup of this test; front services of each runtime
(in that cgroup) call a back service that records every traceparent it receives, with the
body it received (tests/conformance/span_peers/recording_back.py: the oracle, no zerotrace
code). Neither front nor back propagates context itself. Per runtime:

    carried        the back received exactly one traceparent for each request, naming the front
                   CLIENT span zerotrace exported for that call (trace id and span id)
    chain          the front CLIENT span's parent is the front SERVER span of the same request
                   and the wire's trace id is that span's: required for every request where the
                   link is certain (Python's threaded http.server) once the process's first
                   request was seen (its runtime is checked then); printed for the others
    wrong parents  0 (as in span_links.py)
    exact counts   front SERVER, front CLIENT and back SERVER spans = requests completed

A three-hop chain of Python threaded servers (front → middle → back) must be one trace with every
parent right. Then safety, with Debian's curl and a raw socket client in the cgroup against the same back: a
request that carries its own traceparent (any case) is untouched; POST bodies (Content-Length,
chunked, 256 KiB) arrive byte for byte; a head longer than the scan window is untouched;
two pipelined requests in one write arrive whole (the first gets the header); and a process
outside the cgroup is never touched.

    sudo /usr/bin/python3 tests/conformance/propagation.py --zerotrace build/userspace/cli/zerotrace
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conformance import Collector, need, total, wait_for, IN_CI, Skip  # noqa: E402
import span_links  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDING_BACK = os.path.join(HERE, "span_peers", "recording_back.py")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


def cgroup2_root():
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3 and fields[2] == "cgroup2":
                return fields[1]
    return None


def in_cgroup(cgroup, argv):
    """argv run as a member of `cgroup` (it moves itself there before exec)."""
    return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup] + argv


def records(log):
    try:
        with open(log) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def check_runtime(spans, front, back, ids, front_port, back_port, log, need_chain):
    r = span_links.check(spans, front, back, ids, front_port, back_port)

    def port(s):
        return str(s["attrs"].get("server.port", ""))
    rid = lambda s: s["path"].rsplit("/", 1)[-1]  # noqa: E731
    fc = {rid(s): s for s in spans if s["service"] == front and
          s["kind"] in (3, "SPAN_KIND_CLIENT") and port(s) == str(back_port)}
    fs = {rid(s): s for s in spans if s["service"] == front and
          s["kind"] in (2, "SPAN_KIND_SERVER") and port(s) == str(front_port)}
    got = {rec["path"].rsplit("/", 1)[-1]: rec["traceparent"] for rec in records(log)
           if rec["path"].startswith("/items/")}
    carried = chain = 0
    for i in ids:
        tp, c = got.get(str(i), []), fc.get(str(i))
        m = TRACEPARENT.match(tp[0]) if len(tp) == 1 else None
        if not m or c is None or m.group(1) != c["trace"] or m.group(2) != c["span"]:
            continue
        carried += 1
        s = fs.get(str(i))
        if s is not None and c["parent"] == s["span"] and s["trace"] == m.group(1):
            chain += 1
    r.update({"carried": carried, "chain": chain})
    exact = r["front_server"] == r["front_client"] == r["back_server"] == len(ids)
    ok = r["wrong"] == 0 and exact and carried == len(ids) and (not need_chain or chain == len(ids))
    return ok, r


def run_runtimes(args, collector, receiver, cgroup, workdir, failed):
    for name, build, n, conc, need_chain in span_links.runtimes(workdir):
        if args.only and not any(o in name for o in args.only.split(",")):
            continue
        front = f"zt-prop-{name}-front-{os.getpid()}"
        back = f"zt-prop-{name}-back-{os.getpid()}"
        front_service = "nginx" if name.startswith("nginx") else front
        log = os.path.join(workdir, f"{name}.jsonl")

        def case(services, name=name, build=build, n=n, conc=conc, need_chain=need_chain,
                 front=front, back=back, front_service=front_service, log=log):
            build(0)  # raises Skip before anything starts when a runtime is missing
            services.append(span_links.Service(["/usr/bin/python3", RECORDING_BACK, log], back))
            _, front_argv = build(services[0].port)
            services.append(span_links.Service(in_cgroup(cgroup, front_argv), front))
            # The process's runtime is checked when its first request is seen; the links its
            # threads may give are carried from then on (docs/tracing.md).
            warm = span_links.drive(services[1].port, 1, 1)
            names = {front_service, back}
            # All three spans of that request, before they are forgotten (id 0 comes again).
            wait_for(lambda: len(receiver.of(names)) >= 3, 30, 0.1)
            with receiver.lock:
                receiver.spans.clear()
            os.unlink(log)
            ids = span_links.drive(services[1].port, n, conc)
            wait_for(lambda: sum(1 for s in receiver.of(names)
                                 if s["path"].rsplit("/", 1)[-1].isdigit()) >= 3 * len(ids),
                     30, 0.2)
            ok, r = check_runtime(receiver.of(names), front_service, back, ids, services[1].port,
                                  services[0].port, log, need_chain)
            ok = ok and len(ids) == n and len(warm) == 1
            if not ok:  # the spans beside the back's records, for the report
                with open(os.path.join(workdir, f"{name}.spans.json"), "w") as f:
                    json.dump(receiver.of(names), f, indent=1)
            return ok, r
        span_links.run_case(name, collector, failed, case)


def run_three_hops(collector, receiver, cgroup, workdir, failed):
    """front → middle → back, Python threaded servers (the link is certain at every hop): one
    trace per request from the front's SERVER span to the back's, every parent right, and the
    back received the middle's CLIENT span on the wire."""
    front_py = os.path.join(span_links.SERVERS, "front_service.py")
    tag = os.getpid()
    names = {f"zt-prop-3hop-{role}-{tag}": role for role in ("front", "middle", "back")}
    by_role = {role: name for name, role in names.items()}
    log = os.path.join(workdir, "three-hops.jsonl")
    n = 50

    def case(services):
        back = span_links.Service(["/usr/bin/python3", RECORDING_BACK, log], by_role["back"])
        services.append(back)
        middle = span_links.Service(in_cgroup(cgroup, ["/usr/bin/python3", front_py,
                                                       str(back.port)]), by_role["middle"])
        services.append(middle)
        front = span_links.Service(in_cgroup(cgroup, ["/usr/bin/python3", front_py,
                                                      str(middle.port)]), by_role["front"])
        services.append(front)
        span_links.drive(front.port, 1, 1)  # each process's first request: its runtime is checked
        wait_for(lambda: len(receiver.of(set(names))) >= 5, 30, 0.1)  # all of that request
        with receiver.lock:
            receiver.spans.clear()
        os.unlink(log)
        ids = span_links.drive(front.port, n, 4)
        wait_for(lambda: len(receiver.of(set(names))) >= 5 * len(ids), 30, 0.2)
        spans = receiver.of(set(names))
        rid = lambda s: s["path"].rsplit("/", 1)[-1]  # noqa: E731
        server = lambda s: s["kind"] in (2, "SPAN_KIND_SERVER")  # noqa: E731
        hop = {}
        for s in spans:
            hop[(names[s["service"]], "server" if server(s) else "client", rid(s))] = s
        wire = {rid(r): r["traceparent"] for r in records(log) if r["path"].startswith("/items/")}
        complete = carried = wrong = 0
        for i in map(str, ids):
            chain = [hop.get(k) for k in (("front", "server", i), ("front", "client", i),
                                          ("middle", "server", i), ("middle", "client", i),
                                          ("back", "server", i))]
            if None in chain:
                continue
            tp = wire.get(i, [])
            m = TRACEPARENT.match(tp[0]) if len(tp) == 1 else None
            if m and m.group(1) == chain[3]["trace"] and m.group(2) == chain[3]["span"]:
                carried += 1
            parents_ok = all(chain[k + 1]["parent"] == chain[k]["span"] for k in range(4))
            one_trace = len({s["trace"] for s in chain}) == 1
            if parents_ok and one_trace:
                complete += 1
            elif any(chain[k + 1]["parent"] and chain[k + 1]["parent"] != chain[k]["span"]
                     for k in range(4)):
                wrong += 1
        counts = {role: sum(1 for (r, _, _) in hop if r == role) for role in ("front", "middle",
                                                                              "back")}
        r = {"completed": len(ids), "spans": counts, "carried": carried, "complete": complete,
             "wrong": wrong}
        ok = (len(ids) == n and carried == n and complete == n and wrong == 0 and
              counts == {"front": 2 * n, "middle": 2 * n, "back": n})
        if not ok:
            with open(os.path.join(workdir, "three-hops.spans.json"), "w") as f:
                json.dump(spans, f, indent=1)
        return ok, r
    span_links.run_case("python-three-hops", collector, failed, case)


RAW_PIPELINE = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /safety/pipe1 HTTP/1.1\r\nHost: x\r\n\r\nGET /safety/pipe2 HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while data.count(b"back\n") < 2:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.count(b"HTTP/1.1 200"))
"""


def run_safety(collector, cgroup, workdir, failed):
    need("curl")
    log = os.path.join(workdir, "safety.jsonl")
    back = span_links.Service(["/usr/bin/python3", RECORDING_BACK, log],
                              f"zt-prop-safety-back-{os.getpid()}")
    url = f"http://127.0.0.1:{back.port}"
    body = os.urandom(256 * 1024)
    body_file = os.path.join(workdir, "body.bin")
    with open(body_file, "wb") as f:
        f.write(body)
    digest = hashlib.sha256(body).hexdigest()
    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    curl = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}"]
    # (path, curl arguments, check of the record)
    cases = [
        ("/safety/get", [], lambda r: len(r["traceparent"]) == 1 and
         TRACEPARENT.match(r["traceparent"][0])),
        ("/safety/own", ["-H", f"traceparent: {own}"], lambda r: r["traceparent"] == [own]),
        ("/safety/own-case", ["-H", f"TraceParent: {own}"], lambda r: r["traceparent"] == [own]),
        ("/safety/post", ["--data-binary", f"@{body_file}", "-H", "Content-Type: x/y"],
         lambda r: r["body_sha256"] == digest and r["content_length"] == str(len(body)) and
         len(r["traceparent"]) == 1),
        ("/safety/chunked", ["--data-binary", f"@{body_file}", "-H", "Transfer-Encoding: chunked"],
         lambda r: r["body_sha256"] == digest and len(r["traceparent"]) == 1),
        ("/safety/long-head", ["-H", "X-Pad: " + "p" * 1500],
         lambda r: r["traceparent"] == []),
    ]
    before = collector.scrape()
    results = {}
    try:
        for path, extra, _ in cases:
            out = subprocess.run(in_cgroup(cgroup, curl + extra + [url + path]),
                                 capture_output=True, text=True, timeout=30)
            results[path] = out.stdout.strip()
        pipe = subprocess.run(in_cgroup(cgroup, ["/usr/bin/python3", "-c", RAW_PIPELINE,
                                                 str(back.port)]),
                              capture_output=True, text=True, timeout=30)
        # Outside the cgroup: never touched.
        outside = subprocess.run(curl + [url + "/safety/outside"], capture_output=True, text=True,
                                 timeout=30)
        wait_for(lambda: len(records(log)) >= len(cases) + 3, 10, 0.05)
    finally:
        back.stop()
    got = {r["path"]: r for r in records(log)}
    bad = []
    for path, _, ok in cases:
        r = got.get(path)
        if results.get(path) != "200" or r is None or not ok(r):
            bad.append(f"{path} (http {results.get(path)}, record {r})")
    p1, p2 = got.get("/safety/pipe1"), got.get("/safety/pipe2")
    if pipe.stdout.strip() != "2" or not p1 or not p2 or len(p1["traceparent"]) != 1 or \
            p2["traceparent"] != []:
        bad.append(f"pipelined (answers {pipe.stdout.strip()!r} {pipe.stderr.strip()!r}, "
                   f"records {p1} {p2})")
    o = got.get("/safety/outside")
    if outside.stdout.strip() != "200" or not o or o["traceparent"] != []:
        bad.append(f"/safety/outside (http {outside.stdout.strip()}, record {o})")
    # The collector counts what it left alone (read after its next refresh).
    def moved(outcome):
        return total(collector.scrape(), "zerotrace_propagation_requests_total",
                     outcome=outcome) - total(before, "zerotrace_propagation_requests_total",
                                              outcome=outcome)
    wait_for(lambda: moved("had_traceparent") >= 2 and moved("head_not_whole") >= 1, 10, 0.2)
    if moved("had_traceparent") < 2 or moved("head_not_whole") < 1:
        bad.append(f"counters: had_traceparent +{moved('had_traceparent'):g}, "
                   f"head_not_whole +{moved('head_not_whole'):g}")
    verdict = "FAIL" if bad else "pass"
    if bad:
        failed.append("safety")
    print(f"{verdict} safety: {len(cases) + 2 - len(bad)} of {len(cases) + 2} cases"
          + ("" if not bad else ": " + "; ".join(bad)), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zerotrace", required=True)
    ap.add_argument("--only", default="",
                    help="comma-separated: safety, three-hops and runtime names")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("propagation: needs root (BPF)")
        return 1 if IN_CI else 77
    root = cgroup2_root()
    if root is None:
        print("propagation: no cgroup v2 hierarchy is mounted")
        return 1 if IN_CI else 77
    cgroup = os.path.join(root, f"zt-propagation-{os.getpid()}")
    os.mkdir(cgroup)
    workdir = tempfile.mkdtemp(prefix="zt-propagation-")
    os.chmod(workdir, 0o755)
    with open(os.path.join(workdir, "zerotrace.yaml"), "w") as f:
        f.write(f"otlp:\n  propagate_traceparent: true\n  propagate_cgroup: {cgroup}\n")
    receiver = span_links.Receiver()
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.port}"
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
    os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "200"
    os.environ["OTEL_BSP_MAX_QUEUE_SIZE"] = "200000"
    os.environ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = "4096"
    failed = []
    collector = Collector(args.zerotrace, workdir,
                          global_args=["--config", os.path.join(workdir, "zerotrace.yaml")])
    try:
        if not args.only or "safety" in args.only.split(","):
            try:
                run_safety(collector, cgroup, workdir, failed)
            except Skip as e:
                print(f"{'FAIL' if IN_CI else 'skip'} safety: {e}")
                if IN_CI:
                    failed.append("safety")
        if args.only != "safety":
            run_runtimes(args, collector, receiver, cgroup, workdir, failed)
        if not args.only or "three-hops" in args.only.split(","):
            run_three_hops(collector, receiver, cgroup, workdir, failed)
    finally:
        collector.stop()
        receiver.stop()
        for _ in range(50):
            try:
                os.rmdir(cgroup)
                break
            except OSError:
                time.sleep(0.1)  # its last processes are still exiting
    print(f"propagation: {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    if failed:
        print(f"collector log: {workdir}/zerotrace.log")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
