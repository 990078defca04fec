"""Prints, for every code object compiled from the given source files, the oracle for
LineOfCodeUnit: `FIRSTLINE HEXTABLE L0,L1,...` with the line of each code unit as the running
interpreter itself reports it (co_lines(); -1 for none)."""
import sys


def walk(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_lines"):
            yield from walk(c)


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        top = compile(f.read(), path, "exec")
    for code in walk(top):
        units = len(code.co_code) // 2
        lines = [-1] * units
        for start, end, line in code.co_lines():
            for i in range(start // 2, end // 2):
                if i < units:
                    lines[i] = -1 if line is None else line
        print(code.co_firstlineno, code.co_linetable.hex() or "-", ",".join(map(str, lines)))
