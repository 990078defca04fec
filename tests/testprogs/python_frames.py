"""Test workload for Python frames in profiles (tests/unit/python, tests/e2e/profiling).

  python_frames.py SECONDS [cpu|sleep] [IDLE_THREADS]

cpu: the main thread burns in <module> -> via_c -> (map, C) -> outer -> middle -> Burner.spin, and a
second thread hashes with the GIL released (hashlib's C code) in `hasher`. sleep: the main thread
blocks in time.sleep inside `napper`. IDLE_THREADS more threads wait on an event meanwhile (the
main thread is then the last of the interpreter's thread list). Before it starts, it prints what a test checks against,
taken from the interpreter itself (the oracle): one `expect NAME LINE` line per function (the
line the sample's instruction is on), `spin_name NAME` (Burner.spin as profiles name it:
`Burner.spin` from 3.11, `spin` before), `code NAME ADDRESS INDEX LINE` for its code object (the
address is id(), INDEX a code unit on LINE), then `ready`."""
import hashlib
import sys
import threading
import time


class Burner:
    def spin(self, deadline):
        x = 0
        while time.monotonic() < deadline:
            x += 1


def middle(d):
    Burner().spin(d)


def outer(d):
    middle(d)


def via_c(d):
    list(map(outer, [d]))


def hasher(d):
    buf = b"x" * (4 << 20)
    while time.monotonic() < d:
        hashlib.sha256(buf).digest()


def napper(d):
    while time.monotonic() < d:
        time.sleep(0.05)


def first_line_of(fn, text):
    """The first line of fn's source that starts with text."""
    lines, start = __import__("inspect").getsourcelines(fn)
    for i, line in enumerate(lines):
        if line.strip().startswith(text):
            return start + i
    raise SystemExit("no line with " + text)


def main():
    seconds = float(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "cpu"
    here = sys._getframe()
    print("expect <module>", here.f_back.f_lineno if here.f_back else 0)
    print("expect main", first_line_of(main, "via_c(d)" if mode == "cpu" else "napper(d)"))
    print("expect via_c", first_line_of(via_c, "list(map"))
    print("expect outer", first_line_of(outer, "middle(d)"))
    print("expect middle", first_line_of(middle, "Burner().spin"))
    # The name a profile shows: co_qualname from 3.11, the bare co_name before.
    spin = getattr(Burner.spin.__code__, "co_qualname", Burner.spin.__code__.co_name)
    print("expect", spin, first_line_of(Burner.spin, "while time"))
    print("expect", spin, first_line_of(Burner.spin, "x += 1"))
    print("spin_name", spin)
    print("expect hasher", first_line_of(hasher, "hashlib.sha256"))
    print("expect napper", first_line_of(napper, "time.sleep"))
    code = Burner.spin.__code__
    line = first_line_of(Burner.spin, "x += 1")
    if hasattr(code, "co_lines"):
        index = next(start // 2 for start, end, ln in code.co_lines() if ln == line)
    else:  # 3.8, 3.9
        index = next(start // 2 for start, ln in __import__("dis").findlinestarts(code) if ln == line)
    print("code", spin, id(code), index, line)
    idle = threading.Event()
    for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 0):
        threading.Thread(target=idle.wait, daemon=True).start()
    print("ready", flush=True)
    d = time.monotonic() + seconds  # from now: the lines above are slow in an emulated VM
    if mode == "cpu":
        threading.Thread(target=hasher, args=(d,), daemon=True).start()
        via_c(d)
    else:
        napper(d)


if __name__ == "__main__":
    main()
