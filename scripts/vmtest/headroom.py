#!/usr/bin/env python3
"""Verifier headroom per program from `zerotrace probe --json` outputs, as a markdown table.

    headroom.py KERNEL=probe.json [KERNEL=probe.json ...]

Columns per kernel: instructions the verifier processed (share of its 1M limit) and the combined
stack (main program + deepest callee). Budget (docs/compatibility.md): <= 50 % of the limit and
<= 448 bytes of stack on every kernel; rows over it are marked.
"""
import json
import sys

LIMIT_SHARE, STACK_MAX = 0.5, 448
kernels, stats = [], {}
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    kernels.append(name)
    for probe, load in json.load(open(path)).get("loads", {}).items():
        for p in load.get("programs", []):
            stats.setdefault((probe, p["program"]), {})[name] = p
print("| probe | program | " + " | ".join(f"{k} insns | {k} stack" for k in kernels) + " |")
print("|---|---|" + "---|---|" * len(kernels))
for (probe, prog), per in sorted(stats.items()):
    cells = []
    for k in kernels:
        p = per.get(k)
        if not p:
            cells += ["-", "-"]
            continue
        share = p["insns_processed"] / max(1, p["insn_limit"] or 1000000)
        over = share > LIMIT_SHARE or p["combined_stack"] > STACK_MAX
        cells += [f"{p['insns_processed']} ({share:.1%})" + (" **over**" if over else ""),
                  f"{p['combined_stack']} B"]
    print(f"| {probe} | {prog} | " + " | ".join(cells) + " |")
