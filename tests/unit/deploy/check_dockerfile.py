#!/usr/bin/env python3
"""Static checks of the Dockerfile (no Docker daemon needed).

  check_dockerfile.py SOURCE_DIR

Multi-stage on Debian 12; the build stage uses scripts/setup-deps.sh and CMake; the runtime stage
copies only the staged files, installs no compiler or -dev package, exposes 9464 and runs zerotrace.
"""
import os
import re
import sys


def main():
    root = sys.argv[1]
    errors = []
    with open(os.path.join(root, "Dockerfile")) as f:
        text = f.read()
    # Join continuation lines, drop comments.
    logical = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", logical, re.M))
    stages = []
    for line in logical.splitlines():
        m = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            image = re.sub(r"\$\{(\w+)\}", lambda v: args.get(v.group(1), v.group(0)), m.group(1))
            stages.append({"image": image, "name": m.group(2), "lines": []})
        elif stages:
            stages[-1]["lines"].append(line)
    if len(stages) < 2:
        errors.append("Dockerfile must be multi-stage (build + runtime)")
    for s in stages:
        if not re.match(r"^(docker\.io/(library/)?)?debian:(12|bookworm)([-.][\w.-]*)?$", s["image"]):
            errors.append(f"stage {s['name']}: base image {s['image']} is not Debian 12")
    if stages:
        build = "\n".join(stages[0]["lines"])
        for needle in ("scripts/setup-deps.sh", "cmake -S", "cmake --build", "--target zerotrace"):
            if needle not in build:
                errors.append(f"build stage does not run {needle!r}")
        rt = "\n".join(stages[-1]["lines"])
        if re.search(r"\b(build-essential|clang|gcc|g\+\+|cmake|ninja-build|[\w.+-]+-dev)\b", rt):
            errors.append("runtime stage installs build tools or -dev packages")
        if "setup-deps.sh" in rt:
            errors.append("runtime stage must not run setup-deps.sh")
        if not re.search(r"COPY\s+--from=", rt):
            errors.append("runtime stage must COPY --from the build stage")
        if not re.search(r"^EXPOSE\s+9464\b", rt, re.M):
            errors.append("runtime stage must EXPOSE 9464")
        if not re.search(r'^ENTRYPOINT\s+\["/usr/bin/zerotrace"\]', rt, re.M):
            errors.append('runtime ENTRYPOINT must be ["/usr/bin/zerotrace"]')
    di = os.path.join(root, ".dockerignore")
    if not os.path.exists(di) or not re.search(r"^build", open(di).read(), re.M):
        errors.append(".dockerignore must exclude build trees")
    for e in errors:
        print("ERROR:", e)
    print(f"Dockerfile: {len(stages)} stages:", "OK" if not errors else f"{len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
