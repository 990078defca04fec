#!/usr/bin/env python3
"""Fails on an #include that points up the layer order of docs/architecture.md (```layers block).

  check-includes.py [SOURCE_DIR]

Each line of the block is a layer, bottom first; a folder of userspace/ or exporters/ may include
only folders of lower layers and itself. Every folder with sources must be listed.
"""
import glob
import os
import re
import sys


def layers(root):
    text = open(os.path.join(root, "docs/architecture.md")).read()
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    if not m:
        sys.exit("docs/architecture.md: no ```layers block")
    return {name: i for i, line in enumerate(m.group(1).splitlines()) for name in line.split()}


def folder_of(rel):
    parts = rel.split("/")
    if parts[0] == "userspace" and len(parts) > 2:
        return parts[1]
    if parts[0] == "exporters" and len(parts) > 2:
        return "exporters/" + parts[1]
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    level = layers(root)
    # An include path's first component names a folder: userspace/<x>/ or exporters/<x>/.
    include_roots = {f.split("/")[-2]: f"userspace/{f.split('/')[-2]}"
                     for f in glob.glob(os.path.join(root, "userspace/*/"))}
    include_roots.update({f.split("/")[-2]: f"exporters/{f.split('/')[-2]}"
                          for f in glob.glob(os.path.join(root, "exporters/*/"))})
    errors = []
    checked = 0
    for path in sorted(glob.glob(os.path.join(root, "userspace/**/*"), recursive=True) +
                       glob.glob(os.path.join(root, "exporters/**/*"), recursive=True)):
        if not path.endswith((".h", ".cc", ".cpp")):
            continue
        rel = os.path.relpath(path, root)
        src = folder_of(rel)
        if src is None:
            continue
        if src not in level:
            errors.append(f"{rel}: folder {src} is not in the layers of docs/architecture.md")
            continue
        for n, line in enumerate(open(path, errors="replace"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"/]+)/', line)
            if not m or m.group(1) not in include_roots:
                continue
            dst_dir = include_roots[m.group(1)]
            dst = dst_dir.split("/", 1)[1] if dst_dir.startswith("userspace/") else dst_dir
            checked += 1
            if dst == src:
                continue
            if dst not in level:
                errors.append(f"{rel}:{n}: {dst} is not in the layers of docs/architecture.md")
            elif level[dst] >= level[src]:
                errors.append(f"{rel}:{n}: {src} (layer {level[src]}) includes {dst} "
                              f"(layer {level[dst]}): {line.strip()}")
    for e in errors:
        print("ERROR:", e)
    print(f"{checked} includes checked: " + ("OK" if not errors else f"{len(errors)} errors"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
