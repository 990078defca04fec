#!/usr/bin/env python3
"""Runs every dashboard query against a real Prometheus holding synthetic zerotrace data.

  dashboards_live_test.py SOURCE_DIR PROMETHEUS PROMTOOL ZEROTRACE

Generates 30 minutes of synthetic samples for every metric in docs/metrics.md (with the labels the
collector sets, on Kubernetes), backfills them with `promtool tsdb create-blocks-from openmetrics`,
checks every synthetic series against the metrics catalog (`ZEROTRACE metrics --format json`:
declared name and type, declared labels only, closed label values, the declared buckets), starts
`prometheus` on 127.0.0.1, and checks that each panel query (recording rules from
deploy/prometheus/alerts.yml inlined) and each variable's label_values() selector returns data. Catches what a parser cannot:
wrong label names in `by`/`on` clauses, joins that never match, histogram suffixes on the wrong
metric, recording rules the dashboards expect but nobody records.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_dashboards  # noqa: E402  (reuses the expression extraction)

STEP = 15
DURATION = 30 * 60
CATALOG = {}  # name -> the catalog's declaration (filled in main)

NODE = {"instance": "node-a", "job": "zerotrace"}
PODS = [
    {"k8s_namespace_name": "shop", "k8s_pod_name": "checkout-0", "k8s_container_name": "app",
     "k8s_node_name": "node-a", "service_name": "checkout"},
    {"k8s_namespace_name": "ml", "k8s_pod_name": "trainer-0", "k8s_container_name": "pytorch",
     "k8s_node_name": "node-a", "service_name": "trainer"},
]


def lbl(d):
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(d.items())) + "}"


class Gen:
    def __init__(self, end):
        self.end = end
        self.times = [end - DURATION + i * STEP for i in range(DURATION // STEP + 1)]
        self.families = {}

    def add(self, family, mtype, sample_name, labels, fn):
        fam = self.families.setdefault(family, {"type": mtype, "series": []})
        fam["series"].append((sample_name, labels, fn))

    def counter(self, name, labels, per_sec):
        fam = name[:-len("_total")] if name.endswith("_total") else name
        self.add(fam, "counter", name, labels, lambda i: per_sec * STEP * i)

    def gauge(self, name, labels, fn):
        self.add(name, "gauge", name, labels, fn)

    def histogram(self, name, labels, per_sec, typical):
        # Observations spread around `typical`: the share below each bound follows a simple ramp.
        for b in CATALOG[name]["buckets"]:
            share = min(1.0, max(0.0, 0.5 + 0.5 * (b - typical) / max(typical, 1e-12)))
            self.add(name, "histogram", name + "_bucket", dict(labels, le=repr(float(b))),
                     lambda i, s=share: round(per_sec * STEP * i * s, 3))
        self.add(name, "histogram", name + "_bucket", dict(labels, le="+Inf"), lambda i: per_sec * STEP * i)
        self.add(name, "histogram", name + "_count", labels, lambda i: per_sec * STEP * i)
        self.add(name, "histogram", name + "_sum", labels, lambda i: per_sec * STEP * i * typical)

    def text(self):
        out = []
        for fam, f in self.families.items():
            out.append(f"# TYPE {fam} {f['type']}")
            for name, labels, fn in f["series"]:
                for i, t in enumerate(self.times):
                    out.append(f"{name}{lbl(labels)} {float(fn(i))} {t}")
        out.append("# EOF")
        return "\n".join(out) + "\n"


def synthetic(end):
    g = Gen(end)
    for p in PODS:
        base = dict(p, **NODE)
        for code, rate in (("200", 50), ("500", 1)):
            h = dict(base, http_request_method="GET", http_response_status_code=code, http_route="/cart/{id}",
                     server_port="8080")
            g.histogram("http_server_request_duration_seconds", h, rate, 0.05)
            c = {k: v for k, v in h.items() if k != "server_port"}
            g.histogram("http_client_request_duration_seconds", c, rate / 2, 0.02)
        for code, rate in (("0", 20), ("14", 0.5)):
            r = dict(base, rpc_system="grpc", rpc_service="pay.Payments", rpc_method="Charge", rpc_grpc_status_code=code)
            g.histogram("rpc_server_duration_seconds", r, rate, 0.01)
            g.histogram("rpc_client_duration_seconds", r, rate, 0.01)
        for sc, rate in (("read", 300), ("write", 200), ("connect", 5)):
            s = dict(base, syscall=sc)
            g.counter("zerotrace_syscalls_total", s, rate)
            g.counter("zerotrace_syscall_errors_total", s, rate / 100)
            g.histogram("zerotrace_syscall_duration_seconds", s, rate, 2e-5)
        g.counter("zerotrace_oncpu_samples_total", base, 49 * 1.5)
        g.counter("zerotrace_offcpu_seconds_total", base, 3.2)
        k = dict(base, kernel="ampere_sgemm_128x64_tn")
        g.counter("zerotrace_gpu_kernel_launches_total", k, 400)
        g.histogram("zerotrace_gpu_kernel_duration_seconds", k, 400, 1e-3)
        for kind in ("HtoD", "DtoH"):
            m = dict(base, kind=kind)
            g.counter("zerotrace_gpu_memcpy_bytes_total", m, 2e9)
            g.histogram("zerotrace_gpu_memcpy_duration_seconds", m, 50, 2e-3)
        g.gauge("zerotrace_gpu_memory_allocated_bytes", base, lambda i: 2 ** 30 + i * 2 ** 20)
        g.counter("zerotrace_cuda_sync_wait_seconds_total", dict(base, call="stream"), 0.2)
    g.counter("zerotrace_gpu_busy_seconds_total", dict(NODE, device="0"), 0.8)
    for kind in ("late", "after_gap", "unclosed_generation"):
        g.counter("zerotrace_socket_events_disordered_total", dict(NODE, kind=kind), 0.0)
    for outcome in ("after_write", "hold_expired", "hold_full"):
        g.counter("zerotrace_socket_reads_reordered_total", dict(NODE, outcome=outcome), 0.0)
    g.counter("zerotrace_requests_lost_total",
              dict(NODE, service_name="shop", protocol="http2", side="server", reason="capture_gap"), 0.1)
    g.gauge("zerotrace_connections_tracked", NODE, lambda i: 120)
    g.counter("zerotrace_connections_dropped_total", NODE, 0.0)
    g.counter("zerotrace_requests_total", NODE, 500)
    g.counter("zerotrace_socket_bytes_captured_total", NODE, 2e5)
    g.counter("zerotrace_socket_bytes_not_copied_total", NODE, 1e6)
    g.counter("zerotrace_http2_frame_following_lost_total", dict(NODE, reason="kernel"), 1)
    g.counter("zerotrace_unknown_protocol_connections_total", NODE, 0.2)
    g.counter("zerotrace_tls_calls_unattributed_total", NODE, 0.0)
    g.gauge("zerotrace_syscall_map_entries", NODE, lambda i: 900)
    for sym, size in (("kernel", 5e6), ("user", 40e6)):
        g.gauge("zerotrace_symbolizer_memory_bytes", dict(NODE, symbolizer=sym), lambda i, v=size: v)
    for state, rows in (("used", 4e5), ("capacity", 1048576)):
        g.gauge("zerotrace_unwind_table_rows", dict(NODE, state=state), lambda i, v=rows: v)
    for kind, n in (("files", 120), ("processes", 300), ("python_processes", 12)):
        g.gauge("zerotrace_unwind_table_entries", dict(NODE, kind=kind), lambda i, v=n: v)
    for what, reason in (("file", "no_cfi"), ("file", "table_full"), ("process", "table_full")):
        g.counter("zerotrace_unwind_skipped_total", dict(NODE, what=what, reason=reason), 0.0)
    for probe in ("oncpu", "offcpu"):
        for outcome, rate in (("complete", 40), ("truncated", 0.1), ("stopped", 1), ("undescribed", 0.2)):
            g.counter("zerotrace_unwind_walks_total", dict(NODE, probe=probe, outcome=outcome), rate)
        for outcome, rate in (("recorded", 200), ("no_thread", 0.1), ("read_fault", 0.0)):
            g.counter("zerotrace_unwind_python_frames_total", dict(NODE, probe=probe, outcome=outcome), rate)
    g.gauge("process_start_time_seconds", NODE, lambda i: 1.79e9)
    for reason in ("not_regular", "too_large", "unsafe_path"):
        g.counter("zerotrace_untrusted_files_refused_total", dict(NODE, reason=reason), 0.0)
    g.gauge("zerotrace_build_info", dict(NODE, version="0.1.0", git_commit="abc1234", kernel="6.1.0"), lambda i: 1)
    for prog in ("sys_enter", "sys_exit", "sched_switch"):
        g.counter("zerotrace_bpf_prog_run_seconds_total", dict(NODE, prog=prog), 0.004)
        g.counter("zerotrace_bpf_prog_runs_total", dict(NODE, prog=prog), 20000)
    for probe, mode in (("syscalls", "tracepoint"), ("sockets", "tracepoint"), ("cuda", "uprobe")):
        g.counter("zerotrace_events_total", dict(NODE, probe=probe), 1000)
        g.counter("zerotrace_events_lost_total", dict(NODE, probe=probe), 1)
        g.gauge("zerotrace_probe_attached", dict(NODE, probe=probe), lambda i: 1)
        g.gauge("zerotrace_probe_attach_mode", dict(NODE, probe=probe, mode=mode), lambda i: 1)
    for probe in ("oncpu", "offcpu"):
        g.counter("zerotrace_stacks_lost_total", dict(NODE, probe=probe), 3)
    for probe, files in (("sockets", 2), ("cuda", 1), ("cupti", 1)):
        g.gauge("zerotrace_uprobe_targets", dict(NODE, probe=probe), lambda i, f=files: f)
    g.counter("process_cpu_seconds_total", NODE, 0.05)
    g.gauge("process_resident_memory_bytes", NODE, lambda i: 180e6)
    g.counter("zerotrace_spans_exported_total", NODE, 100)
    g.counter("zerotrace_spans_dropped_total", dict(NODE, reason="queue_full"), 0.5)
    for kind in ("server", "client"):
        g.counter("zerotrace_spans_built_total", dict(NODE, kind=kind), 100)
    g.counter("zerotrace_spans_sampled_out_total", NODE, 0)
    for result in ("success", "retryable_failure", "failure"):
        g.counter("zerotrace_otlp_export_requests_total", dict(NODE, result=result), 1)
    for outcome in ("injected_thread", "injected_new", "had_traceparent", "head_not_whole",
                    "push_failed"):
        g.counter("zerotrace_propagation_requests_total", dict(NODE, outcome=outcome), 1)
    g.counter("zerotrace_propagation_connections_untracked_total", NODE, 0)
    g.gauge("up", NODE, lambda i: 1)
    return g


def catalog_errors(gen, catalog):
    """Every synthetic series as the collector could emit it, per the catalog."""
    errors = []
    k8s = set(catalog["k8s_labels"])
    for fam, f in gen.families.items():
        for sample, labels, _ in f["series"]:
            name = sample
            for suffix in ("_bucket", "_sum", "_count"):
                if sample.endswith(suffix) and sample[: -len(suffix)] in CATALOG:
                    name = sample[: -len(suffix)]
            spec = CATALOG.get(name)
            if spec is None:
                errors.append(f"{sample}: not in the catalog")
                continue
            if (name != sample) != (spec["type"] == "histogram"):
                errors.append(f"{sample}: the catalog declares {name} a {spec['type']}")
            declared = {l["name"]: l["values"] for l in spec["labels"]}
            allowed = set(declared) | {"job", "instance"} | (k8s if spec["per_service"] else set())
            if sample.endswith("_bucket"):
                allowed.add("le")
            for k, v in labels.items():
                if k not in allowed:
                    errors.append(f"{sample}: label {k} is not declared ({sorted(allowed)})")
                elif declared.get(k) and v not in declared[k]:
                    errors.append(f"{sample}: {k}={v!r} is not one of {declared[k]}")
    return errors


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def api(base, path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400/422: bad query or execution error, JSON body
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}


def main():
    root, prometheus, promtool, zerotrace = sys.argv[1:5]
    catalog = json.loads(subprocess.run([zerotrace, "metrics", "--format", "json"], check=True,
                                        capture_output=True, text=True).stdout)
    CATALOG.update({m["name"]: m for m in catalog["metrics"]})
    # Every metric documented must be generated (so the test keeps up with docs/metrics.md).
    docs = check_dashboards.documented_metrics(os.path.join(root, "docs/metrics.md"))
    end = int(time.time()) - 5
    gen = synthetic(end)
    generated = set(gen.families) | {s[0] for f in gen.families.values() for s in f["series"]}
    missing = [m for m in docs if m not in generated]
    if missing:
        print("ERROR: no synthetic data for documented metrics:", missing)
        return 1
    bad = catalog_errors(gen, catalog)
    for e in bad:
        print("ERROR: synthetic data the collector cannot emit:", e)
    if bad:
        return 1

    tmp = tempfile.mkdtemp(prefix="zt_dash_live_")
    proc = None
    try:
        om = os.path.join(tmp, "data.om")
        with open(om, "w") as f:
            f.write(gen.text())
        data = os.path.join(tmp, "tsdb")
        os.makedirs(data)
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", om, data], check=True,
                       capture_output=True, text=True)
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 15s\n")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        proc = subprocess.Popen([prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1y"],
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                print("ERROR: prometheus did not become ready:\n" + open(os.path.join(tmp, "prometheus.log")).read()[-3000:])
                return 1
            time.sleep(0.3)

        # Recording rules are not evaluated over backfilled history (the backfilled block ends in the
        # future of the head), so dashboard queries on a recorded series get the rule's expression
        # inlined instead; the label matchers on it are all `.*` after variable substitution.
        import yaml
        with open(os.path.join(root, "deploy/prometheus/alerts.yml")) as f:
            recorded = {r["record"]: r["expr"] for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "record" in r}

        def inline_rules(q):
            return re.sub(r"([a-zA-Z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+)(\{[^}]*\})?",
                          lambda m: "(" + recorded[m.group(1)] + ")" if m.group(1) in recorded else m.group(0), q)

        exprs = []
        for path in sorted(__import__("glob").glob(os.path.join(root, "deploy/grafana/*.json"))):
            check_dashboards.check_dashboard(path, docs, set(), exprs)
        failures = []
        n = 0
        for where, expr in exprs:
            q = inline_rules(check_dashboards.grafana_to_promql(expr))
            n += 1
            if "variable" in where:   # label_values(selector, label): the selector must match series
                res = api(base, "/api/v1/series", {"match[]": q, "start": end - DURATION, "end": end})
                ok = res.get("status") == "success" and res.get("data")
            else:
                res = api(base, "/api/v1/query", {"query": q, "time": end})
                ok = res.get("status") == "success" and res["data"]["result"]
            if not ok:
                failures.append(f"{where}: no data for {q}  ({res.get('error', 'empty result')})")
        for f in failures:
            print("ERROR:", f)
        print(f"{n} dashboard queries against live Prometheus:", "OK" if not failures else f"{len(failures)} without data")
        return 1 if failures else 0
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
