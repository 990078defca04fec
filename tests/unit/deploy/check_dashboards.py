#!/usr/bin/env python3
"""Checks the Grafana dashboards and Prometheus rules shipped in deploy/.

  check_dashboards.py SOURCE_DIR PROMTOOL
  check_dashboards.py --self-test SOURCE_DIR PROMTOOL   (the checks must catch planted defects)

1. Every dashboard is valid JSON with a `datasource` variable; every panel and query uses it;
   per-service dashboards have `namespace` and `service` selectors; every `$var` used is defined.
2. Every PromQL expression (panel targets and the selectors of label_values() variable queries) is
   wrapped as a recording rule in a temporary file and parsed by `promtool check rules`, i.e. by
   Prometheus' own parser, after Grafana's macros are substituted.
3. Every metric name used by a dashboard or by deploy/prometheus/alerts.yml is documented in
   docs/metrics.md (histogram suffixes _bucket/_sum/_count allowed for histograms); `a:b:c` names must
   be recording rules defined in alerts.yml. docs/metrics.md is generated from the metrics catalog
   (userspace/core/metrics_catalog.cpp), so this checks against what the collector declares.
   Every label a selector matches on must be one its metric carries (Labels column; `k8s_*` = the
   four Kubernetes labels; `job`/`instance` from the scrape; `le` on `_bucket`); every label of a
   `by`/`on`/`without`/`ignoring` clause or a label_values() variable must be carried by one of the
   expression's metrics (a recording rule carries the labels of its own `by` clauses).
4. Every alert has severity, summary, description and a runbook_url naming an existing
   docs/runbooks/<alertname>.md.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
            "group_right", "inf", "nan", "atan2", "start", "end"}
GRAFANA_DURATION_MACROS = ["$__rate_interval", "${__rate_interval}", "$__interval", "${__interval}", "$__range",
                           "${__range}"]
GRAFANA_BUILTIN_VARS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s", "__range_ms",
                        "__all", "__auto"}

errors = []


def err(msg):
    errors.append(msg)


K8S_LABELS = {"k8s_namespace_name", "k8s_pod_name", "k8s_container_name", "k8s_node_name"}
TARGET_LABELS = {"job", "instance"}
TABLE_ROW = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*([^|]*)\|([^|]*)\|")


def documented_rows(path):
    """(name, type, label names) of every row of the markdown tables of docs/metrics.md."""
    with open(path) as f:
        for line in f:
            m = TABLE_ROW.match(line)
            if not m:
                continue
            cell = re.sub(r"\([^)]*\)", "", m.group(3))  # closed value lists
            names = set(re.findall(r"`([a-zA-Z_*][a-zA-Z0-9_*]*)`", cell))
            if "k8s_*" in names:
                names = (names - {"k8s_*"}) | K8S_LABELS
            yield m.group(1), m.group(2).strip(), names


def documented_metrics(path):
    """Returns {name: type} from docs/metrics.md."""
    return {name: mtype for name, mtype, _ in documented_rows(path)}


def documented_labels(path):
    """Returns {name: set of label names} from the Labels column of docs/metrics.md."""
    return {name: labels for name, _, labels in documented_rows(path)}


def selectors(expr):
    """(metric, [label names]) for each `metric{matchers}` in a PromQL expression."""
    e = strip_strings(expr)
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", e):
        yield m.group(1), re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", m.group(2))


def clause_labels(expr):
    e = strip_strings(expr)
    out = set()
    for m in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", e):
        out.update(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", m.group(1)))
    return out


def labels_of(name, docs, labels, rule_labels):
    """Labels a series of `name` can carry, or None when unknown (undocumented: reported elsewhere)."""
    if ":" in name:
        return rule_labels.get(name, set()) | TARGET_LABELS
    if name in labels:
        return labels[name] | TARGET_LABELS
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base in labels and docs.get(base, "").startswith("histogram"):
            return labels[base] | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
    return None


def check_labels(expr, where, docs, labels, rule_labels, extra=()):
    """Selector labels must exist on their metric; clause labels on some metric of the expression."""
    union = set()
    for name in metric_names(expr):
        known = labels_of(name, docs, labels, rule_labels)
        if known is None:
            return  # an undocumented metric is already an error
        union |= known
    for name, used in selectors(expr):
        known = labels_of(name, docs, labels, rule_labels)
        if known is None:
            continue
        for label in used:
            if label not in known and label != "__name__":
                err(f"{where}: {name} has no label {label} (docs/metrics.md: {sorted(known)})")
    for label in sorted((clause_labels(expr) | set(extra)) - union):
        err(f"{where}: no metric of the expression carries label {label}")


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def metric_names(expr):
    """Metric names referenced by a PromQL expression (a small lexer, good enough for our queries)."""
    e = strip_strings(expr)
    e = re.sub(r"\{[^}]*\}", " ", e)                      # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                     # range / subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)", e):
        tok = m.group(1)
        rest = e[m.end():]
        if re.match(r"\s*\(", rest):                      # function or aggregation
            continue
        if tok.lower() in KEYWORDS:
            continue
        names.add(tok)
    return names


def check_metric(name, where, docs, recorded):
    if ":" in name:
        if name not in recorded:
            err(f"{where}: recording rule {name} is not defined in deploy/prometheus/alerts.yml")
        return
    if name in docs:
        return
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if base in docs and docs[base].startswith("histogram"):
                return
            if base in docs:
                err(f"{where}: {name}: {base} is documented as {docs[base]!r}, not a histogram")
                return
    err(f"{where}: metric {name} is not documented in docs/metrics.md")


def grafana_to_promql(expr):
    for macro in GRAFANA_DURATION_MACROS:
        expr = expr.replace(macro, "5m")
    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", ".*", expr)
    return expr


def walk_panels(panels):
    for p in panels:
        yield p
        for sub in p.get("panels", []) or []:
            yield sub


variable_labels = {}  # index in exprs -> the label a label_values() variable reads


def check_dashboard(path, docs, recorded, exprs):
    name = os.path.basename(path)
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        err(f"{name}: invalid JSON: {e}")
        return
    for key in ("uid", "title", "panels", "templating"):
        if key not in d:
            err(f"{name}: missing {key}")
            return
    variables = {v["name"]: v for v in d["templating"]["list"]}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err(f"{name}: needs a `datasource` variable of type datasource (prometheus)")
    if "health" not in d.get("tags", []):
        for v in ("namespace", "service"):
            if v not in variables:
                err(f"{name}: per-service dashboard needs a `{v}` template variable")
    used_vars = set()
    for v in variables.values():
        if v["type"] != "query":
            continue
        if v.get("datasource", {}).get("uid") != "${datasource}":
            err(f"{name}: variable {v['name']} does not use $datasource")
        q = v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query", "")
        m = re.match(r"^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", q)
        if not m:
            err(f"{name}: variable {v['name']}: unsupported query {q!r} (use label_values(selector, label))")
            continue
        exprs.append((f"{name} variable {v['name']}", m.group(1)))
        variable_labels[len(exprs) - 1] = m.group(2)
        used_vars.update(re.findall(r"\$(\w+)", m.group(1)))
    uid_ok = lambda x: isinstance(x, dict) and x.get("uid") == "${datasource}"
    n_targets = 0
    ids = set()
    for p in walk_panels(d["panels"]):
        if p.get("id") in ids:
            err(f"{name}: duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        title = p.get("title", "?")
        if not uid_ok(p.get("datasource")):
            err(f"{name}: panel {title!r} does not use $datasource")
        if not p.get("targets"):
            err(f"{name}: panel {title!r} has no queries")
        for t in p.get("targets", []):
            n_targets += 1
            if "datasource" in t and not uid_ok(t["datasource"]):
                err(f"{name}: panel {title!r} query {t.get('refId')} does not use $datasource")
            expr = t.get("expr", "")
            if not expr.strip():
                err(f"{name}: panel {title!r} query {t.get('refId')} is empty")
                continue
            exprs.append((f"{name} panel {title!r} {t.get('refId')}", expr))
            used_vars.update(v for pair in re.findall(r"\$\{(\w+)[^}]*\}|\$(\w+)", expr) for v in pair if v)
    for v in sorted(used_vars - set(variables) - GRAFANA_BUILTIN_VARS):
        err(f"{name}: uses undefined variable ${v}")
    if n_targets == 0:
        err(f"{name}: no queries")


def load_rules(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    rules = []
    for g in doc.get("groups", []):
        rules.extend(g.get("rules", []))
    return rules


def self_test(root, promtool):
    """Runs the checks on a deliberately broken copy of the tree: they must find every defect."""
    import shutil
    tmp = tempfile.mkdtemp(prefix="zt_dash_selftest_")
    try:
        for rel in ("docs/metrics.md", "deploy/prometheus/alerts.yml"):
            os.makedirs(os.path.join(tmp, os.path.dirname(rel)), exist_ok=True)
            shutil.copy(os.path.join(root, rel), os.path.join(tmp, rel))
        shutil.copytree(os.path.join(root, "docs/runbooks"), os.path.join(tmp, "docs/runbooks"))
        os.remove(os.path.join(tmp, "docs/runbooks/ZerotraceCollectorDown.md"))
        os.makedirs(os.path.join(tmp, "deploy/grafana"))
        with open(os.path.join(root, "deploy/grafana/zerotrace-red.json")) as f:
            d = json.load(f)
        targets = [t for p in walk_panels(d["panels"]) for t in p.get("targets", [])]
        targets[0]["expr"] = "sum(rate(zerotrace_not_a_metric_total[5m]))"
        targets[1]["expr"] = "sum(rate(http_server_request_duration_seconds_count[5m])) / / 2"
        targets[2]["expr"] = 'sum(rate(zerotrace_syscalls_total{x=~"$undefined_var"}[5m]))'
        targets[3]["expr"] = "rate(zerotrace_connections_tracked_bucket[5m])"
        targets[4]["expr"] = 'sum by (k8s_namespace) (rate(zerotrace_syscalls_total{syscal="read"}[5m]))'
        d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "namespace"]
        with open(os.path.join(tmp, "deploy/grafana/broken.json"), "w") as f:
            json.dump(d, f)
        found = run_checks(tmp, promtool)
    finally:
        shutil.rmtree(tmp)
    expected = ["zerotrace_not_a_metric_total is not documented", "promtool rejected", "undefined variable $undefined_var",
                "not a histogram", "needs a `namespace` template variable", "ZerotraceCollectorDown.md does not exist",
                "zerotrace_syscalls_total has no label syscal", "carries label k8s_namespace"]
    missing = [e for e in expected if not any(e in f for f in found)]
    for m in missing:
        print("SELF-TEST: the checker did not report:", m)
    print("self-test:", "OK" if not missing else "FAILED", f"({len(found)} defects reported)")
    return 1 if missing else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--self-test":
        return self_test(sys.argv[2], sys.argv[3])
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    found = run_checks(sys.argv[1], sys.argv[2])
    for e in found:
        print("ERROR:", e)
    print("OK" if not found else f"{len(found)} errors")
    return 1 if found else 0


def run_checks(root, promtool):
    errors.clear()
    docs = documented_metrics(os.path.join(root, "docs/metrics.md"))
    labels = documented_labels(os.path.join(root, "docs/metrics.md"))
    variable_labels.clear()
    if len(docs) < 20:
        err(f"docs/metrics.md: only {len(docs)} metrics found in its tables")
    rules = load_rules(os.path.join(root, "deploy/prometheus/alerts.yml"))
    recorded = {r["record"] for r in rules if "record" in r}
    rule_labels = {r["record"]: clause_labels(r["expr"]) for r in rules if "record" in r}

    # Alerts and recording rules: metric names + alert metadata.
    alerts = [r for r in rules if "alert" in r]
    if not alerts:
        err("alerts.yml: no alerts")
    for r in rules:
        where = "alerts.yml " + (r.get("alert") or r.get("record"))
        for n in metric_names(r["expr"]):
            check_metric(n, where, docs, recorded)
        check_labels(r["expr"], where, docs, labels, rule_labels)
    for a in alerts:
        name = a["alert"]
        if a.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            err(f"alerts.yml {name}: severity must be critical, warning or info")
        ann = a.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                err(f"alerts.yml {name}: missing annotation {key}")
        url = ann.get("runbook_url", "")
        if not url.endswith(f"docs/runbooks/{name}.md"):
            err(f"alerts.yml {name}: runbook_url {url!r} should point to docs/runbooks/{name}.md")
        elif not os.path.isfile(os.path.join(root, "docs/runbooks", f"{name}.md")):
            err(f"alerts.yml {name}: docs/runbooks/{name}.md does not exist")

    # Dashboards.
    exprs = []
    dashboards = sorted(glob.glob(os.path.join(root, "deploy/grafana/*.json")))
    if not dashboards:
        err("no dashboards in deploy/grafana")
    uids = {}
    for path in dashboards:
        check_dashboard(path, docs, recorded, exprs)
        try:
            uid = json.load(open(path)).get("uid")
            if uid in uids:
                err(f"{os.path.basename(path)}: uid {uid} also used by {uids[uid]}")
            uids[uid] = os.path.basename(path)
        except ValueError:
            pass
    for i, (where, expr) in enumerate(exprs):
        for n in metric_names(grafana_to_promql(expr)):
            check_metric(n, where, docs, recorded)
        extra = [variable_labels[i]] if i in variable_labels else []
        check_labels(grafana_to_promql(expr), where, docs, labels, rule_labels, extra)

    # Prometheus' own parser over every dashboard expression.
    if exprs:
        group = {"groups": [{"name": "dashboard-expressions", "rules": [
            {"record": f"zerotrace_dashboard_check:expr_{i}", "expr": grafana_to_promql(e),
             "labels": {"source": where[:200]}} for i, (where, e) in enumerate(exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
            yaml.safe_dump(group, tmp, sort_keys=False, width=10000)
            tmp_path = tmp.name
        try:
            res = subprocess.run([promtool, "check", "rules", tmp_path], capture_output=True, text=True)
            if res.returncode != 0:
                err("promtool rejected dashboard expressions:\n" + res.stdout + res.stderr)
                for i, (where, e) in enumerate(exprs):
                    if f"expr_{i}\"" in res.stdout + res.stderr or f"expr_{i} " in res.stdout + res.stderr:
                        err(f"  {where}: {e}")
        finally:
            os.unlink(tmp_path)

    print(f"checked {len(dashboards)} dashboards, {len(exprs)} dashboard expressions, {len(rules)} rules "
          f"({len(alerts)} alerts), {len(docs)} documented metrics")
    return list(errors)


if __name__ == "__main__":
    sys.exit(main())
