#!/usr/bin/env python3
"""Generates the zerotrace Grafana dashboards (deploy/grafana/*.json) from one description.

The JSON files are committed and are what users import; edit this file and re-run
`python3 deploy/grafana/generate.py` to change them (tests/unit/deploy checks every query with
promtool and every metric name against docs/metrics.md).
"""
import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'k8s_namespace_name=~"$namespace", service_name=~"$service"'
RI = "$__rate_interval"


def target(expr, legend="", ref="A", instant=False, fmt=None):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref, "range": not instant,
         "instant": instant}
    if fmt:
        t["format"] = fmt
    return t


class Dash:
    def __init__(self, uid, title, description, variables, tags):
        self.uid, self.title, self.description, self.variables, self.tags = uid, title, description, variables, tags
        self.panels = []
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1

    def _place(self, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title):
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"type": "row", "title": title, "id": self.next_id, "collapsed": False, "panels": [],
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}})
        self.next_id += 1
        self.y += 1

    def panel(self, kind, title, targets, unit="short", w=12, h=8, description="", stack=False, legend_calcs=None,
              thresholds=None, decimals=None, max_=None, overrides=None, transformations=None, options=None):
        refs = "ABCDEFGH"
        tg = []
        for i, t in enumerate(targets):
            if isinstance(t, tuple):
                t = target(*t)
            t = dict(t)
            t["refId"] = refs[i]
            tg.append(t)
        defaults = {"unit": unit}
        if decimals is not None:
            defaults["decimals"] = decimals
        if max_ is not None:
            defaults["max"] = max_
        if thresholds:
            defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in thresholds]}
        if kind == "timeseries":
            defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if not stack else 30,
                                  "showPoints": "never", "spanNulls": False,
                                  "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
        p = {"type": kind, "title": title, "description": description, "datasource": DS, "id": self.next_id,
             "gridPos": self._place(w, h), "targets": tg,
             "fieldConfig": {"defaults": defaults, "overrides": overrides or []}}
        if kind == "timeseries":
            p["options"] = {"legend": {"displayMode": "table", "placement": "right" if w >= 12 else "bottom",
                                       "calcs": legend_calcs or ["mean", "max", "lastNotNull"], "showLegend": True},
                            "tooltip": {"mode": "multi", "sort": "desc"}}
        elif kind == "stat":
            p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "value", "graphMode": "area", "textMode": "auto"}
        elif kind == "table":
            p["options"] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
        if options:
            p["options"].update(options)
        if transformations:
            p["transformations"] = transformations
        self.next_id += 1
        self.panels.append(p)

    def json(self):
        templating = [{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
                       "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}]
        for name, label, query in self.variables:
            templating.append({
                "name": name, "label": label, "type": "query", "datasource": DS,
                "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery",
                                               "qryType": 1},
                "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "hide": 0, "regex": "",
                "options": []})
        return {
            "uid": self.uid, "title": self.title, "description": self.description, "tags": ["zerotrace"] + self.tags,
            "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "timezone": "browser",
            "time": {"from": "now-1h", "to": "now"}, "refresh": "30s", "fiscalYearStartMonth": 0,
            "liveNow": False, "weekStart": "",
            "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m", "1h"]},
            "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
                           {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}],
            "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                      "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                      "name": "Annotations & Alerts", "type": "dashboard"}]},
            "links": [{"asDropdown": True, "icon": "external link", "includeVars": True, "keepTime": True,
                       "tags": ["zerotrace"], "targetBlank": False, "title": "zerotrace", "type": "dashboards"}],
            "templating": {"list": templating},
            "panels": self.panels,
        }


def service_vars(metric):
    return [("namespace", "Namespace", f"label_values({metric}, k8s_namespace_name)"),
            ("service", "Service", f'label_values({metric}{{k8s_namespace_name=~"$namespace"}}, service_name)')]


def ratio(count_metric, sel, bad, by):
    """Share of `bad` samples; 0 (not "no data") for series without any bad ones."""
    grp = f"sum by ({by}) " if by else "sum "
    total = f"{grp}(rate({count_metric}{{{sel}}}[{RI}]))"
    return f"({grp}(rate({count_metric}{{{sel}, {bad}}}[{RI}])) or 0 * {total}) / {total}"


def q(p, metric, by, sel=SEL):
    return f"histogram_quantile({p}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}[{RI}])))"


# ------------------------------------------------------------------------------------------------
def red():
    m = "http_server_request_duration_seconds"
    c = "http_client_request_duration_seconds"
    d = Dash("zerotrace-red", "zerotrace / HTTP RED overview",
             "Rate, errors and duration of HTTP servers and clients seen by zerotrace (no instrumentation).",
             service_vars(f"{m}_count") + [
                 ("route", "Route", f'label_values({m}_count{{{SEL}}}, http_route)')], ["http", "red"])
    sel = SEL + ', http_route=~"$route"'
    d.row("Overview")
    d.panel("stat", "Requests / s", [(f"sum(rate({m}_count{{{sel}}}[{RI}]))", "req/s")], "reqps", w=6, h=4)
    d.panel("stat", "Error %", [(ratio(f"{m}_count", sel, 'http_response_status_code=~"5.."', ""), "5xx")],
            "percentunit", w=6, h=4,
            thresholds=[(None, "green"), (0.001, "orange"), (0.01, "red")], decimals=2)
    d.panel("stat", "p99 latency", [(q(0.99, m, "service_name", sel).replace("sum by (service_name, le)", "sum by (le)"),
                                     "p99")], "s", w=6, h=4, thresholds=[(None, "green"), (0.5, "orange"), (1, "red")])
    d.panel("stat", "Services", [(f"count(count by (k8s_namespace_name, service_name) ({m}_count{{{sel}}}))", "services")],
            "none", w=6, h=4)
    d.row("Per service")
    d.panel("timeseries", "Request rate per service",
            [(f"sum by (k8s_namespace_name, service_name) (rate({m}_count{{{sel}}}[{RI}]))",
              "{{k8s_namespace_name}}/{{service_name}}")], "reqps")
    d.panel("timeseries", "Error % (5xx) per service",
            [(ratio(f"{m}_count", sel, 'http_response_status_code=~"5.."', "k8s_namespace_name, service_name"),
              "{{k8s_namespace_name}}/{{service_name}}")], "percentunit")
    for p in ("0.5", "0.95", "0.99"):
        d.panel("timeseries", f"p{int(float(p) * 100)} latency per service",
                [(q(p, m, "k8s_namespace_name, service_name", sel), "{{k8s_namespace_name}}/{{service_name}}")], "s", w=8)
    d.panel("timeseries", "Requests by status code",
            [(f"sum by (http_response_status_code) (rate({m}_count{{{sel}}}[{RI}]))", "{{http_response_status_code}}")],
            "reqps", stack=True)
    d.panel("timeseries", "SLO: error-budget burn rate (1h window, 99.9% SLO)",
            [(f'zerotrace:http_server_error_ratio:rate1h{{{SEL}}} / 0.001', "{{k8s_namespace_name}}/{{service_name}}")],
            "x", description="1 = burning exactly the budget; 14.4 over 1h (and 5m) pages. Needs the recording rules "
                             "from deploy/prometheus/alerts.yml.",
            thresholds=[(None, "green"), (6, "orange"), (14.4, "red")])
    d.row("Per route")
    d.panel("table", "Routes: rate, error %, p50 / p95 / p99",
            [target(f"sum by (service_name, http_request_method, http_route) (rate({m}_count{{{sel}}}[{RI}]))", "", "A", True, "table"),
             target(ratio(f"{m}_count", sel, 'http_response_status_code=~"5.."', "service_name, http_request_method, http_route"),
                    "", "B", True, "table"),
             target(q(0.5, m, "service_name, http_request_method, http_route", sel), "", "C", True, "table"),
             target(q(0.95, m, "service_name, http_request_method, http_route", sel), "", "D", True, "table"),
             target(q(0.99, m, "service_name, http_request_method, http_route", sel), "", "E", True, "table")],
            w=24, h=10,
            transformations=[{"id": "merge", "options": {}},
                             {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {
                                 "Value #A": "req/s", "Value #B": "error %", "Value #C": "p50", "Value #D": "p95",
                                 "Value #E": "p99"}}}],
            overrides=[{"matcher": {"id": "byName", "options": "req/s"}, "properties": [{"id": "unit", "value": "reqps"}]},
                       {"matcher": {"id": "byName", "options": "error %"}, "properties": [{"id": "unit", "value": "percentunit"}]},
                       {"matcher": {"id": "byRegexp", "options": "p(50|95|99)"}, "properties": [{"id": "unit", "value": "s"}]}])
    d.panel("timeseries", "p99 latency per route",
            [(q(0.99, m, "service_name, http_route", sel), "{{service_name}} {{http_route}}")], "s")
    d.panel("timeseries", "Request rate per route",
            [(f"sum by (service_name, http_route) (rate({m}_count{{{sel}}}[{RI}]))", "{{service_name}} {{http_route}}")], "reqps")
    d.row("HTTP clients (outgoing calls)")
    d.panel("timeseries", "Outgoing request rate",
            [(f"sum by (service_name, http_route) (rate({c}_count{{{SEL}}}[{RI}]))", "{{service_name}} → {{http_route}}")], "reqps", w=8)
    d.panel("timeseries", "Outgoing error % (5xx)",
            [(ratio(f"{c}_count", SEL, 'http_response_status_code=~"5.."', "service_name"), "{{service_name}}")],
            "percentunit", w=8)
    d.panel("timeseries", "Outgoing p99 latency",
            [(q(0.99, c, "service_name, http_route"), "{{service_name}} → {{http_route}}")], "s", w=8)
    d.row("Parsing")
    d.panel("timeseries", "Requests lost / s", [(f"sum by (protocol, side, reason) (rate(zerotrace_requests_lost_total[{RI}]))",
                                                "{{protocol}} {{side}}: {{reason}}")], "ops",
            description="Requests the peers exchanged that are not in the RED series, by reason (recorded + lost = completed); see docs/metrics.md.")
    d.panel("timeseries", "TLS calls not tied to a socket / s",
            [(f"sum by (instance) (rate(zerotrace_tls_calls_unattributed_total[{RI}]))", "{{instance}}")], "ops",
            description="SSL_read/SSL_write calls whose connection was never found: their requests are missing on that side. Expected 0; see docs/metrics.md.")
    d.panel("timeseries", "Connections tracked", [("sum by (instance) (zerotrace_connections_tracked)", "{{instance}}")])
    return d


def grpc():
    m = "rpc_server_duration_seconds"
    c = "rpc_client_duration_seconds"
    d = Dash("zerotrace-grpc", "zerotrace / gRPC", "gRPC servers and clients (HTTP/2 + HPACK decoded in userspace).",
             service_vars(f"{m}_count") + [
                 ("rpc_service", "gRPC service", f'label_values({m}_count{{{SEL}}}, rpc_service)')], ["grpc", "red"])
    sel = SEL + ', rpc_service=~"$rpc_service"'
    err = 'rpc_grpc_status_code=~"2|4|12|13|14|15"'
    d.row("Server")
    d.panel("timeseries", "Calls / s per method",
            [(f"sum by (service_name, rpc_service, rpc_method) (rate({m}_count{{{sel}}}[{RI}]))",
              "{{service_name}} {{rpc_service}}/{{rpc_method}}")], "reqps")
    d.panel("timeseries", "Error % per method (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS)",
            [(ratio(f"{m}_count", sel, err, "service_name, rpc_service, rpc_method"),
              "{{service_name}} {{rpc_service}}/{{rpc_method}}")], "percentunit")
    d.panel("timeseries", "Calls by status code", [(f"sum by (rpc_grpc_status_code) (rate({m}_count{{{sel}}}[{RI}]))",
                                                    "code {{rpc_grpc_status_code}}")], "reqps", stack=True, w=8)
    d.panel("timeseries", "p50 per method", [(q(0.5, m, "rpc_service, rpc_method", sel), "{{rpc_service}}/{{rpc_method}}")], "s", w=8)
    d.panel("timeseries", "p99 per method", [(q(0.99, m, "rpc_service, rpc_method", sel), "{{rpc_service}}/{{rpc_method}}")], "s", w=8)
    d.panel("timeseries", "SLO: error-budget burn rate (1h window, 99.9% SLO)",
            [(f"zerotrace:rpc_server_error_ratio:rate1h{{{SEL}}} / 0.001", "{{k8s_namespace_name}}/{{service_name}}")], "x",
            w=24, thresholds=[(None, "green"), (6, "orange"), (14.4, "red")])
    d.row("Client")
    d.panel("timeseries", "Outgoing calls / s", [(f"sum by (service_name, rpc_service, rpc_method) (rate({c}_count{{{sel}}}[{RI}]))",
                                                  "{{service_name}} → {{rpc_service}}/{{rpc_method}}")], "reqps", w=8)
    d.panel("timeseries", "Outgoing error %", [(ratio(f"{c}_count", sel, err, "service_name, rpc_service"),
                                                "{{service_name}} → {{rpc_service}}")], "percentunit", w=8)
    d.panel("timeseries", "Outgoing p99", [(q(0.99, c, "service_name, rpc_service, rpc_method", sel),
                                            "{{service_name}} → {{rpc_service}}/{{rpc_method}}")], "s", w=8)
    return d


def syscalls():
    d = Dash("zerotrace-syscalls", "zerotrace / Syscalls and CPU",
             "Per-service syscalls, on-CPU and off-CPU time. Open /flamegraph on the collector for the stacks.",
             service_vars("zerotrace_syscalls_total") + [
                 ("syscall", "Syscall", f'label_values(zerotrace_syscalls_total{{{SEL}}}, syscall)')], ["syscalls", "profiling"])
    sel = SEL + ', syscall=~"$syscall"'
    d.row("CPU")
    d.panel("timeseries", "On-CPU (cores, from 49 Hz samples)",
            [(f"sum by (k8s_namespace_name, service_name) (rate(zerotrace_oncpu_samples_total{{{SEL}}}[{RI}])) / 49",
              "{{k8s_namespace_name}}/{{service_name}}")], "short",
            description="Samples per second divided by the sampling frequency (default 49 Hz; adjust if configured).")
    d.panel("timeseries", "Off-CPU time (blocked seconds per second)",
            [(f"sum by (k8s_namespace_name, service_name) (rate(zerotrace_offcpu_seconds_total{{{SEL}}}[{RI}]))",
              "{{k8s_namespace_name}}/{{service_name}}")], "s",
            description="Summed over threads: 8 threads blocked all the time = 8.")
    d.row("Syscalls")
    d.panel("timeseries", "Top 10 syscalls / s",
            [(f"topk(10, sum by (service_name, syscall) (rate(zerotrace_syscalls_total{{{sel}}}[{RI}])))",
              "{{service_name}} {{syscall}}")], "ops")
    d.panel("timeseries", "Syscall errors / s",
            [(f"topk(10, sum by (service_name, syscall) (rate(zerotrace_syscall_errors_total{{{sel}}}[{RI}])))",
              "{{service_name}} {{syscall}}")], "ops")
    d.panel("timeseries", "Syscall error %",
            [(f"sum by (service_name, syscall) (rate(zerotrace_syscall_errors_total{{{sel}}}[{RI}])) / "
              f"sum by (service_name, syscall) (rate(zerotrace_syscalls_total{{{sel}}}[{RI}])) > 0",
              "{{service_name}} {{syscall}}")], "percentunit", w=8)
    d.panel("timeseries", "p99 syscall latency",
            [(q(0.99, "zerotrace_syscall_duration_seconds", "service_name, syscall", sel), "{{service_name}} {{syscall}}")],
            "s", w=8, description="log2 buckets: values are upper bounds within a factor of 2.")
    d.panel("timeseries", "Time in syscalls (seconds per second)",
            [(f"topk(10, sum by (service_name, syscall) (rate(zerotrace_syscall_duration_seconds_sum{{{sel}}}[{RI}])))",
              "{{service_name}} {{syscall}}")], "s", w=8)
    d.panel("table", "Syscalls: rate, errors, mean latency",
            [target(f"sum by (service_name, syscall) (rate(zerotrace_syscalls_total{{{sel}}}[{RI}]))", "", "A", True, "table"),
             target(f"sum by (service_name, syscall) (rate(zerotrace_syscall_errors_total{{{sel}}}[{RI}]))", "", "B", True, "table"),
             target(f"sum by (service_name, syscall) (rate(zerotrace_syscall_duration_seconds_sum{{{sel}}}[{RI}])) / "
                    f"sum by (service_name, syscall) (rate(zerotrace_syscall_duration_seconds_count{{{sel}}}[{RI}]))", "", "C", True, "table")],
            w=24, h=10,
            transformations=[{"id": "merge", "options": {}},
                             {"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {
                                 "Value #A": "calls/s", "Value #B": "errors/s", "Value #C": "mean latency"}}}],
            overrides=[{"matcher": {"id": "byName", "options": "mean latency"}, "properties": [{"id": "unit", "value": "s"}]}])
    return d


def gpu():
    d = Dash("zerotrace-gpu", "zerotrace / GPU (CUDA)",
             "CUDA kernels, copies, memory and synchronisation per service (uprobes on libcuda + CUPTI injector).",
             service_vars("zerotrace_gpu_kernel_launches_total") + [
                 ("device", "GPU", "label_values(zerotrace_gpu_busy_seconds_total, device)")], ["gpu", "cuda"])
    d.row("Devices")
    d.panel("timeseries", "GPU busy (utilisation)",
            [(f'sum by (instance, device) (rate(zerotrace_gpu_busy_seconds_total{{device=~"$device"}}[{RI}]))',
              "{{instance}} GPU {{device}}")], "percentunit", max_=1, w=24)
    d.row("Kernels")
    d.panel("timeseries", "GPU kernel time per kernel (top 10, GPU-seconds per second)",
            [(f"topk(10, sum by (service_name, kernel) (rate(zerotrace_gpu_kernel_duration_seconds_sum{{{SEL}}}[{RI}])))",
              "{{service_name}} {{kernel}}")], "s", stack=True)
    d.panel("timeseries", "Kernel launches / s per service",
            [(f"sum by (k8s_namespace_name, service_name) (rate(zerotrace_gpu_kernel_launches_total{{{SEL}}}[{RI}]))",
              "{{k8s_namespace_name}}/{{service_name}}")], "ops")
    d.panel("timeseries", "Mean kernel duration (top 10)",
            [(f"topk(10, sum by (service_name, kernel) (rate(zerotrace_gpu_kernel_duration_seconds_sum{{{SEL}}}[{RI}])) / "
              f"sum by (service_name, kernel) (rate(zerotrace_gpu_kernel_duration_seconds_count{{{SEL}}}[{RI}])))",
              "{{service_name}} {{kernel}}")], "s")
    d.panel("timeseries", "p99 kernel duration per service",
            [(q(0.99, "zerotrace_gpu_kernel_duration_seconds", "service_name"), "{{service_name}}")], "s")
    d.row("Memory and copies")
    d.panel("timeseries", "Memcpy throughput by direction",
            [(f"sum by (service_name, kind) (rate(zerotrace_gpu_memcpy_bytes_total{{{SEL}}}[{RI}]))",
              "{{service_name}} {{kind}}")], "Bps", w=8)
    d.panel("timeseries", "Time in memcpy (seconds per second)",
            [(f"sum by (service_name, kind) (rate(zerotrace_gpu_memcpy_duration_seconds_sum{{{SEL}}}[{RI}]))",
              "{{service_name}} {{kind}}")], "s", w=8)
    d.panel("timeseries", "Device memory held",
            [(f"sum by (k8s_namespace_name, k8s_pod_name, service_name) (zerotrace_gpu_memory_allocated_bytes{{{SEL}}})",
              "{{k8s_namespace_name}}/{{k8s_pod_name}} {{service_name}}")], "bytes", w=8,
            description="Outstanding cuMemAlloc bytes. A line that only goes up is a leak (alert ZerotraceGPUMemoryGrowing).")
    d.panel("timeseries", "Device memory growth rate (1h deriv)",
            [(f"deriv(zerotrace_gpu_memory_allocated_bytes{{{SEL}}}[1h])", "{{k8s_pod_name}} {{service_name}}")], "Bps")
    d.panel("timeseries", "CUDA sync waits (CPU seconds blocked per second)",
            [(f"sum by (service_name, call) (rate(zerotrace_cuda_sync_wait_seconds_total{{{SEL}}}[{RI}]))",
              "{{service_name}} {{call}}")], "s",
            description="Time host threads wait in cu*Synchronize: high values with low GPU busy = CPU-bound input pipeline or serialised launches.")
    return d


def collector():
    d = Dash("zerotrace-collector", "zerotrace / Collector health",
             "The collector itself: scrape health, probes, events lost, BPF run time, CPU/RSS, span export.",
             [("instance", "Collector", 'label_values(up{job="zerotrace"}, instance)')], ["health"])
    inst = 'instance=~"$instance"'
    d.row("Fleet")
    d.panel("stat", "Collectors up", [('sum(up{job="zerotrace"})', "up")], "none", w=6, h=4)
    d.panel("stat", "Collectors down", [('count(up{job="zerotrace"} == 0) or vector(0)', "down")], "none", w=6, h=4,
            thresholds=[(None, "green"), (1, "red")])
    d.panel("stat", "Events lost / s (all)", [(f"sum(rate(zerotrace_events_lost_total{{{inst}}}[{RI}]))", "lost")], "ops",
            w=6, h=4, thresholds=[(None, "green"), (1, "orange")])
    d.panel("stat", "Spans dropped / s (all)", [(f"sum(rate(zerotrace_spans_dropped_total{{{inst}}}[{RI}]))", "dropped")],
            "ops", w=6, h=4, thresholds=[(None, "green"), (1, "orange")])
    d.panel("table", "Versions", [target(f"zerotrace_build_info{{{inst}}}", "", "A", True, "table")], w=24, h=6,
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}}}])
    d.row("Events")
    d.panel("timeseries", "Events / s per probe", [(f"sum by (probe) (rate(zerotrace_events_total{{{inst}}}[{RI}]))",
                                                    "{{probe}}")], "ops")
    d.panel("timeseries", "Events lost % per probe",
            [(f"sum by (instance, probe) (rate(zerotrace_events_lost_total{{{inst}}}[{RI}])) / "
              f"(sum by (instance, probe) (rate(zerotrace_events_total{{{inst}}}[{RI}])) + "
              f"sum by (instance, probe) (rate(zerotrace_events_lost_total{{{inst}}}[{RI}])))",
              "{{instance}} {{probe}}")], "percentunit")
    d.panel("timeseries", "Profiling samples without their stack / s (stack map collisions)",
            [(f"sum by (instance, probe) (rate(zerotrace_stacks_lost_total{{{inst}}}[{RI}]))",
              "{{instance}} {{probe}}")], "ops")
    d.panel("table", "Probes: attached and mode",
            [target(f"zerotrace_probe_attach_mode{{{inst}}} * on (instance, probe) group_left zerotrace_probe_attached{{{inst}}}",
                    "", "A", True, "table")], w=24, h=8,
            transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}, "renameByName": {
                "Value": "attached"}}}])
    d.row("Overhead")
    d.panel("timeseries", "BPF run time per program (CPU-seconds per second)",
            [(f"sum by (prog) (rate(zerotrace_bpf_prog_run_seconds_total{{{inst}}}[{RI}]))", "{{prog}}")], "s", stack=True,
            description="Needs bpf_stats: true in the zerotrace config (or sysctl kernel.bpf_stats_enabled=1). Alert ZerotraceBPFOverheadHigh at 0.05 per node.")
    d.panel("timeseries", "Mean BPF run time per invocation",
            [(f"sum by (prog) (rate(zerotrace_bpf_prog_run_seconds_total{{{inst}}}[{RI}])) / "
              f"sum by (prog) (rate(zerotrace_bpf_prog_runs_total{{{inst}}}[{RI}]))", "{{prog}}")], "s")
    d.panel("timeseries", "Collector CPU (cores)",
            [(f'rate(process_cpu_seconds_total{{job="zerotrace", {inst}}}[{RI}])', "{{instance}} userspace"),
             (f"sum by (instance) (rate(zerotrace_bpf_prog_run_seconds_total{{{inst}}}[{RI}]))", "{{instance}} BPF")],
            "short", w=8)
    d.panel("timeseries", "Collector RSS", [(f'process_resident_memory_bytes{{job="zerotrace", {inst}}}', "{{instance}}")],
            "bytes", w=8)
    d.panel("timeseries", "Connections tracked", [(f"zerotrace_connections_tracked{{{inst}}}", "{{instance}}")], w=8)
    d.row("Span export (OTLP)")
    d.panel("timeseries", "Spans exported / s", [(f"sum by (instance) (rate(zerotrace_spans_exported_total{{{inst}}}[{RI}]))",
                                                  "{{instance}}")], "ops")
    d.panel("timeseries", "Spans dropped / s by reason",
            [(f"sum by (instance, reason) (rate(zerotrace_spans_dropped_total{{{inst}}}[{RI}]))", "{{instance}} {{reason}}")],
            "ops")
    return d


def main():
    """Writes the dashboards; with --check only reports (exit 1) JSON files that differ from this file."""
    import sys
    check = "--check" in sys.argv[1:]
    here = os.path.dirname(os.path.abspath(__file__))
    stale = []
    for fn, name in ((red, "zerotrace-red.json"), (grpc, "zerotrace-grpc.json"), (syscalls, "zerotrace-syscalls.json"),
                     (gpu, "zerotrace-gpu.json"), (collector, "zerotrace-collector.json")):
        text = json.dumps(fn().json(), indent=2, sort_keys=False) + "\n"
        path = os.path.join(here, name)
        if check:
            try:
                with open(path) as f:
                    if f.read() == text:
                        continue
            except OSError:
                pass
            stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale (run python3 deploy/grafana/generate.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
