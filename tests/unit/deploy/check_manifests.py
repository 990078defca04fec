#!/usr/bin/env python3
"""Checks the Kubernetes manifests in deploy/kubernetes (python3-yaml; no cluster or kubectl needed).

  check_manifests.py SOURCE_DIR

- every YAML file parses; every document has apiVersion, kind and metadata.name;
- every path a kustomization.yaml names exists;
- the rendered plain YAML (render.py --check) is in sync with the kustomize tree;
- each variant (privileged, capabilities, gpu) has the RBAC, ConfigMap, headless Service and a
  DaemonSet with hostPID, the host mounts, probes on /health and /ready, K8S_NODE_NAME from the
  downward API, ZEROTRACE_PROC_ROOT pointing at the host /proc mount, resources, and its security
  settings; the gpu variant selects GPU nodes and tolerates their taint;
- the ConfigMap's config.yaml uses only the keys the CLI is told to accept;
- PodMonitor/ServiceMonitor scrape the named port and produce job="zerotrace".
"""
import glob
import os
import subprocess
import sys

import yaml

errors = []
CONFIG_KEYS = {"listen", "log_format", "log_level", "probes"}
PROBES = {"syscalls", "oncpu", "offcpu", "sockets", "tls", "cuda", "cupti"}
HOST_PATHS = {"/sys/kernel/tracing", "/sys/kernel/debug", "/sys/fs/bpf", "/proc", "/run/zerotrace"}
CAPS = {"BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"}


def err(msg):
    errors.append(msg)


def load(path):
    try:
        with open(path) as f:
            return [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        err(f"{path}: invalid YAML: {e}")
        return []


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def check_variant(name, docs):
    where = name
    kinds = {d["kind"] for d in docs}
    for k in ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Service", "DaemonSet"):
        if k not in kinds:
            err(f"{where}: missing {k}")
    if errors and any(e.startswith(where + ": missing") for e in errors):
        return
    sa = by_kind(docs, "ServiceAccount")[0]["metadata"]["name"]
    role = by_kind(docs, "ClusterRole")[0]
    ok = any("" in r.get("apiGroups", []) and "pods" in r.get("resources", [])
             and {"get", "list", "watch"} <= set(r.get("verbs", [])) for r in role.get("rules", []))
    if not ok:
        err(f"{where}: ClusterRole must allow get/list/watch on pods")
    for r in role.get("rules", []):
        if set(r.get("verbs", [])) - {"get", "list", "watch"}:
            err(f"{where}: ClusterRole grants more than read access: {r}")
    crb = by_kind(docs, "ClusterRoleBinding")[0]
    if crb["roleRef"]["name"] != role["metadata"]["name"] or not any(
            s["kind"] == "ServiceAccount" and s["name"] == sa for s in crb["subjects"]):
        err(f"{where}: ClusterRoleBinding does not bind the ClusterRole to ServiceAccount {sa}")

    cm = by_kind(docs, "ConfigMap")[0]
    try:
        cfg = yaml.safe_load(cm["data"]["config.yaml"])
    except (KeyError, yaml.YAMLError) as e:
        err(f"{where}: ConfigMap config.yaml missing or invalid: {e}")
        cfg = {}
    if set(cfg) - CONFIG_KEYS:
        err(f"{where}: config.yaml uses keys {sorted(set(cfg) - CONFIG_KEYS)} beyond {sorted(CONFIG_KEYS)}")
    if str(cfg.get("listen", "")).rsplit(":", 1)[-1] != "9464":
        err(f"{where}: config.yaml listen must be on port 9464")
    if cfg.get("log_format") not in ("json", "text") or cfg.get("log_level") not in ("trace", "debug", "info", "warn", "error"):
        err(f"{where}: config.yaml log_format/log_level invalid")
    for p, v in (cfg.get("probes") or {}).items():
        if p not in PROBES or not isinstance(v, dict) or set(v) != {"enabled"} or not isinstance(v["enabled"], bool):
            err(f"{where}: config.yaml probes.{p} must be one of {sorted(PROBES)} with only `enabled: <bool>`")

    svc = by_kind(docs, "Service")[0]
    if svc["spec"].get("clusterIP") != "None":
        err(f"{where}: Service must be headless (clusterIP: None)")
    if not any(p["port"] == 9464 for p in svc["spec"]["ports"]):
        err(f"{where}: Service must expose port 9464")

    ds = by_kind(docs, "DaemonSet")[0]
    spec = ds["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
        err(f"{where}: DaemonSet selector does not match its pod labels")
    if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        err(f"{where}: Service selector does not match the DaemonSet pods")
    if pod.get("hostPID") is not True:
        err(f"{where}: DaemonSet needs hostPID: true")
    if pod.get("serviceAccountName") != sa:
        err(f"{where}: DaemonSet must run as ServiceAccount {sa}")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    host = {v["hostPath"]["path"]: n for n, v in volumes.items() if "hostPath" in v}
    for p in sorted(HOST_PATHS - set(host)):
        err(f"{where}: DaemonSet lacks a hostPath volume for {p}")
    cms = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == cm["metadata"]["name"]]
    if not cms:
        err(f"{where}: DaemonSet does not mount ConfigMap {cm['metadata']['name']}")
    containers = pod["containers"]
    c = next((c for c in containers if c["name"] == "zerotrace"), None)
    if c is None:
        err(f"{where}: no container named zerotrace")
        return
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    for n in volumes:
        if n not in mounts:
            err(f"{where}: volume {n} is not mounted")
    for n, m in mounts.items():
        if n not in volumes:
            err(f"{where}: volumeMount {n} has no volume")
    for p in ("/sys/kernel/tracing", "/sys/kernel/debug", "/sys/fs/bpf"):
        if p in host and mounts.get(host[p], {}).get("mountPath") != p:
            err(f"{where}: {p} must be mounted at the same path in the container")
    proc_mount = mounts.get(host.get("/proc"), {}).get("mountPath")
    env = {e["name"]: e for e in c.get("env", [])}
    node = env.get("K8S_NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    if node != "spec.nodeName":
        err(f"{where}: env K8S_NODE_NAME must come from fieldRef spec.nodeName")
    if env.get("ZEROTRACE_PROC_ROOT", {}).get("value") != proc_mount:
        err(f"{where}: env ZEROTRACE_PROC_ROOT must equal the host /proc mountPath ({proc_mount})")
    args = c.get("args", [])
    if "run" not in args or "--config" not in args or args.index("--config") > args.index("run"):
        err(f"{where}: args must be [--config FILE, run] (--config is a global option)")
    else:
        cfg_path = args[args.index("--config") + 1]
        cm_mount = mounts.get(cms[0], {}).get("mountPath", "") if cms else ""
        if cfg_path != cm_mount.rstrip("/") + "/config.yaml":
            err(f"{where}: --config {cfg_path} is not the ConfigMap's config.yaml ({cm_mount})")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if 9464 not in ports.values():
        err(f"{where}: container must expose 9464")

    def probe_ok(pr, path):
        g = (pr or {}).get("httpGet", {})
        port = ports.get(g.get("port"), g.get("port"))
        return g.get("path") == path and port == 9464

    if not probe_ok(c.get("livenessProbe"), "/health"):
        err(f"{where}: livenessProbe must GET /health on 9464")
    if not probe_ok(c.get("readinessProbe"), "/ready"):
        err(f"{where}: readinessProbe must GET /ready on 9464")
    res = c.get("resources", {})
    if not res.get("requests", {}).get("cpu") or not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
        err(f"{where}: container needs cpu/memory requests and a memory limit")

    sc = c.get("securityContext", {})
    if "privileged" in name:
        if sc.get("privileged") is not True:
            err(f"{where}: privileged variant must set privileged: true")
    else:
        if sc.get("privileged") is not False:
            err(f"{where}: capabilities variant must set privileged: false")
        add = set(sc.get("capabilities", {}).get("add", []))
        if not CAPS <= add:
            err(f"{where}: capabilities must add {sorted(CAPS - add)}")
        if sc.get("allowPrivilegeEscalation") is False and "SYS_ADMIN" in add:
            err(f"{where}: allowPrivilegeEscalation: false with SYS_ADMIN is rejected by the API server")
    if "gpu" in name:
        if not pod.get("nodeSelector"):
            err(f"{where}: gpu variant needs a nodeSelector")
        if not any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", [])):
            err(f"{where}: gpu variant must tolerate nvidia.com/gpu")


def check_monitoring(root, ds_docs):
    ds = by_kind(ds_docs, "DaemonSet")[0]
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    svc = by_kind(ds_docs, "Service")[0]
    c = ds["spec"]["template"]["spec"]["containers"][0]
    port_names = {p.get("name") for p in c.get("ports", [])}
    for path in ("podmonitor.yaml", "servicemonitor.yaml"):
        docs = load(os.path.join(root, "deploy/kubernetes/monitoring", path))
        if not docs:
            err(f"monitoring/{path}: empty")
            continue
        m = docs[0]
        spec = m["spec"]
        labels = pod_labels if m["kind"] == "PodMonitor" else svc["metadata"]["labels"]
        if labels.get(spec.get("jobLabel")) != "zerotrace":
            err(f"monitoring/{path}: jobLabel must name a label whose value is zerotrace (alerts use job=\"zerotrace\")")
        if any(labels.get(k) != v for k, v in spec["selector"]["matchLabels"].items()):
            err(f"monitoring/{path}: selector does not match")
        eps = spec.get("podMetricsEndpoints") or spec.get("endpoints") or []
        svc_ports = {p.get("name") for p in svc["spec"]["ports"]}
        for ep in eps:
            if ep.get("port") not in (port_names if m["kind"] == "PodMonitor" else svc_ports):
                err(f"monitoring/{path}: port {ep.get('port')} is not a named port")
            if ep.get("path", "/metrics") != "/metrics":
                err(f"monitoring/{path}: path must be /metrics")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    root = sys.argv[1]
    kroot = os.path.join(root, "deploy/kubernetes")
    files = sorted(glob.glob(os.path.join(kroot, "**/*.yaml"), recursive=True))
    if not files:
        err("no manifests")
    for f in files:
        for d in load(f):
            rel = os.path.relpath(f, root)
            if os.path.basename(f) == "kustomization.yaml":
                kdir = os.path.dirname(f)
                for r in d.get("resources", []) + [p["path"] for p in d.get("patches", [])]:
                    if not os.path.exists(os.path.join(kdir, r)):
                        err(f"{rel}: names {r}, which does not exist")
                continue
            for key in ("apiVersion", "kind"):
                if key not in d:
                    err(f"{rel}: document without {key}")
            if not d.get("metadata", {}).get("name"):
                err(f"{rel}: document without metadata.name")
    res = subprocess.run([sys.executable, os.path.join(kroot, "render.py"), "--check"], capture_output=True, text=True)
    if res.returncode != 0:
        err("render.py --check: " + res.stdout + res.stderr)
    variants = {}
    for v in ("privileged", "capabilities", "gpu"):
        docs = load(os.path.join(kroot, f"zerotrace-{v}.yaml"))
        variants[v] = docs
        check_variant(f"zerotrace-{v}.yaml", docs)
    if variants.get("privileged"):
        check_monitoring(root, variants["privileged"])
        # The bare-host config must use the same keys as the ConfigMap.
        cm = by_kind(variants["privileged"], "ConfigMap")[0]
        k8s_cfg = yaml.safe_load(cm["data"]["config.yaml"])
        host = load(os.path.join(root, "deploy/systemd/config.yaml"))
        if not host or set(host[0]) != set(k8s_cfg) or set(host[0].get("probes", {})) != set(k8s_cfg.get("probes", {})):
            err("deploy/systemd/config.yaml: keys differ from the Kubernetes ConfigMap's config.yaml")
    for e in errors:
        print("ERROR:", e)
    print(f"checked {len(files)} manifest files, {len(variants)} variants:", "OK" if not errors else f"{len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
